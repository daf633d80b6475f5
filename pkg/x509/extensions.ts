import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { boolTrue, children, ctx, octets, oid, readTlv, seq, smallInt, Tag, tlv, value } from './der';
import { OID } from './oids';

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 §4.1). */
export function extension(id: string, critical: boolean, valueDer: Buffer): Buffer {
  return critical ? seq(oid(id), boolTrue(), octets(valueDer)) : seq(oid(id), octets(valueDer));
}

export interface SanSpec {
  uris?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

function ipBytes(ip: string): Buffer {
  const v = net.isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v === 6) {
    // Expand '::' and embedded IPv4 into 8 groups.
    let s = ip;
    const v4 = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
    if (v4) {
      const b = v4[1]!.split('.').map(Number);
      s = s.slice(0, -v4[1]!.length) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
    }
    const [head, tail] = s.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
  }
  throw new RangeError(`not an IP address: ${ip}`);
}

/** GeneralNames: uniformResourceIdentifier [6], dNSName [2], iPAddress [7] (all IMPLICIT IA5/OCTET). */
export function subjectAltNameExtension(san: SanSpec, critical: boolean): Buffer {
  const names: Buffer[] = [];
  for (const u of san.uris ?? []) names.push(ctx(6, false, Buffer.from(u, 'ascii')));
  for (const d of san.dnsNames ?? []) names.push(ctx(2, false, Buffer.from(d, 'ascii')));
  for (const ip of san.ipAddresses ?? []) names.push(ctx(7, false, ipBytes(ip)));
  return extension(OID.subjectAltName, critical, seq(...names));
}

export const KeyUsageBit = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

/** KeyUsage as a DER named-bit BIT STRING: trailing zero bits dropped, unused-bit count set (X.690 §11.2.2). */
export function keyUsageExtension(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const nBytes = Math.floor(highest / 8) + 1;
  const bytes = Buffer.alloc(nBytes);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (highest % 8);
  return extension(OID.keyUsage, true, tlv(Tag.BIT_STRING, Buffer.from([unused]), bytes));
}

export function extKeyUsageExtension(oids: string[]): Buffer {
  return extension(OID.extKeyUsage, false, seq(...oids.map(oid)));
}

/** cA DEFAULT FALSE is omitted in DER, so a leaf's value is an empty SEQUENCE. Marked critical like Go's x509. */
export function basicConstraintsExtension(isCa: boolean, pathLen?: number): Buffer {
  const parts: Buffer[] = [];
  if (isCa) parts.push(boolTrue());
  if (isCa && pathLen !== undefined) parts.push(smallInt(pathLen));
  return extension(OID.basicConstraints, true, seq(...parts));
}

export function subjectKeyIdExtension(keyId: Buffer): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octets(keyId));
}

export function authorityKeyIdExtension(keyId: Buffer): Buffer {
  return extension(OID.authorityKeyIdentifier, false, seq(ctx(0, false, keyId)));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdFromSpki(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const bits = children(spki, outer)[1]!;
  const key = value(spki, bits).subarray(1);
  // One-shot crypto.hash (Node ≥ 20.12) skips the Hash object; same digest.
  return typeof crypto.hash === 'function'
    ? crypto.hash('sha1', key, 'buffer')
    : crypto.createHash('sha1').update(key).digest();
}
