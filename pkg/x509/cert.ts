import * as crypto from 'node:crypto';
import { DaemonError, GrpcCode } from '../errors';
import {
  bitString,
  children,
  ctx,
  decodeOid,
  expectTag,
  oid,
  readTlv,
  seq,
  set,
  slice,
  smallInt,
  Tag,
  time,
  tlv,
  unsignedInt,
  value,
} from './der';
import { keyIdFromSpki } from './extensions';
import type { Signer } from './keys';
import { OID } from './oids';
import { decodePemBlocks, encodePem } from './pem';

export interface CertificateSpec {
  /** Big-endian serial magnitude; default: random positive 128-bit. */
  serial?: Buffer;
  /** DER Name of the issuer (the signing certificate's subject, byte for byte). */
  issuer: Buffer;
  /** DER Name of the subject; `emptyName()` for workload leaves. */
  subject: Buffer;
  notBefore: number;
  notAfter: number;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Buffer;
  /** Pre-encoded Extension DERs (see extensions.ts). */
  extensions: Buffer[];
  signer: Signer;
}

// CSPRNG bytes drawn 4 KiB at a time: one randomBytes call per serial cost
// more than the rest of the certificate's DER.
const SERIAL_POOL_BYTES = 4096;
let serialPool = Buffer.alloc(0);
let serialPoolOffset = 0;

/** A positive 128-bit serial that still encodes in 16 bytes (RFC 5280 §4.1.2.2 caps serials at 20 octets). */
export function randomSerial(): Buffer {
  if (serialPoolOffset + 16 > serialPool.length) {
    serialPool = crypto.randomBytes(SERIAL_POOL_BYTES);
    serialPoolOffset = 0;
  }
  // A copy, and the pool never reuses bytes: no two serials share randomness.
  const b = Buffer.from(serialPool.subarray(serialPoolOffset, serialPoolOffset + 16));
  serialPool.fill(0, serialPoolOffset, serialPoolOffset + 16);
  serialPoolOffset += 16;
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b;
}

export function emptyName(): Buffer {
  return seq();
}

/** Name from (type OID, value) pairs, one RDN each, as UTF8String. */
export function buildName(attrs: Array<[string, string]>): Buffer {
  return seq(...attrs.map(([t, v]) => set(seq(oid(t), tlv(Tag.UTF8_STRING, Buffer.from(v, 'utf8'))))));
}

export const NameAttr = { CN: OID.commonName, O: OID.organizationName } as const;

/** Encodes the TBSCertificate (RFC 5280 §4.1) and signs it natively. Returns DER. */
export function buildCertificate(spec: CertificateSpec): Buffer {
  const tbs = seq(
    ctx(0, true, smallInt(2)),
    unsignedInt(spec.serial ?? randomSerial()),
    spec.signer.algorithmIdentifier,
    spec.issuer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.spki,
    ctx(3, true, seq(...spec.extensions)),
  );
  return seq(tbs, spec.signer.algorithmIdentifier, bitString(spec.signer.sign(tbs)));
}

export function certificateToPem(der: Buffer): string {
  return encodePem('CERTIFICATE', der);
}

/** What the CA needs from a certificate it holds (its own, intermediates, roots). */
export interface CertificateInfo {
  der: Buffer;
  /** Newline-terminated PEM. */
  pem: string;
  x509: crypto.X509Certificate;
  subject: string;
  issuer: string;
  subjectDer: Buffer;
  issuerDer: Buffer;
  spki: Buffer;
  /** SubjectKeyIdentifier extension value, or the RFC 5280 method-1 hash when absent. */
  subjectKeyId: Buffer;
  notBefore: number;
  notAfter: number;
  isCa: boolean;
  selfSigned: boolean;
  serialHex: string;
}

function bad(message: string): DaemonError {
  return new DaemonError('x509.bad_certificate', GrpcCode.FAILED_PRECONDITION, message);
}

export function parseCertificateDer(der: Buffer): CertificateInfo {
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(der);
  } catch (e) {
    throw bad(`certificate does not parse: ${(e as Error).message}`);
  }
  const outer = readTlv(der, 0);
  const tbs = children(der, expectTag(children(der, outer)[0], Tag.SEQUENCE, 'tbs'));
  // version [0] is present for v3; shift indexes when it is absent (v1 roots exist).
  const o = tbs[0]!.tag === 0xa0 ? 1 : 0;
  const issuerDer = Buffer.from(slice(der, tbs[o + 2]!));
  const subjectDer = Buffer.from(slice(der, tbs[o + 4]!));
  const spki = Buffer.from(slice(der, tbs[o + 5]!));
  let subjectKeyId: Buffer | undefined;
  const extsWrapper = tbs.find((t) => t.tag === 0xa3);
  if (extsWrapper) {
    for (const ext of children(der, children(der, extsWrapper)[0]!)) {
      const parts = children(der, ext);
      if (decodeOid(der, parts[0]!) === OID.subjectKeyIdentifier) {
        const inner = value(der, parts[parts.length - 1]!);
        subjectKeyId = Buffer.from(value(inner, readTlv(inner, 0)));
      }
    }
  }
  const selfSigned = issuerDer.equals(subjectDer) && x509.verify(x509.publicKey);
  return {
    der: Buffer.from(der),
    pem: encodePem('CERTIFICATE', der),
    x509,
    subject: x509.subject,
    issuer: x509.issuer,
    subjectDer,
    issuerDer,
    spki,
    subjectKeyId: subjectKeyId ?? keyIdFromSpki(spki),
    notBefore: Date.parse(x509.validFrom),
    notAfter: Date.parse(x509.validTo),
    isCa: x509.ca,
    selfSigned,
    serialHex: x509.serialNumber,
  };
}

/** Every CERTIFICATE block of a PEM bundle, parsed; throws if there is none. */
export function parseCertificatesPem(pem: string): CertificateInfo[] {
  const blocks = decodePemBlocks(pem).filter((b) => b.type === 'CERTIFICATE');
  if (blocks.length === 0) throw bad('no CERTIFICATE block found');
  return blocks.map((b) => parseCertificateDer(b.der));
}
