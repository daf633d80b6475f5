import forge from 'node-forge';

/**
 * Minimal DER reader/writer on Buffers. Reading keeps exact byte ranges, which
 * signature checks need (the signed bytes are the original encoding, never a
 * re-encoding). Writing concatenates Buffers: no intermediate binary strings,
 * so building a certificate costs microseconds next to the native signature.
 */

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  valueStart: number;
  /** Offset one past the last content byte. */
  end: number;
}

export class DerError extends Error {}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads one TLV at `offset`, bounded by `limit`. Only definite, short/long lengths (DER). */
export function readTlv(buf: Buffer, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated TLV header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags unsupported');
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // DER: indefinite length (n = 0) is forbidden; 4 length bytes is plenty for our size cap.
    if (n === 0 || n > 4) throw new DerError('unsupported length encoding');
    if (p + n > limit) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerError('truncated value');
  return { tag, start: offset, valueStart: p, end: p + len };
}

/** The direct children of a constructed TLV. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.valueStart;
  while (p < parent.end) {
    const c = readTlv(buf, p, parent.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected ${what}`);
  return t;
}

export function slice(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.start, t.end);
}

export function value(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.valueStart, t.end);
}

export function decodeOid(buf: Buffer, t: Tlv): string {
  expectTag(t, Tag.OID, 'OBJECT IDENTIFIER');
  return forge.asn1.derToOid(forge.util.createBuffer(value(buf, t).toString('binary')));
}

// ---- writer ----

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...parts: Buffer[]): Buffer => tlv(Tag.SEQUENCE, ...parts);
export const set = (...parts: Buffer[]): Buffer => tlv(Tag.SET, ...parts);
export const octets = (b: Buffer): Buffer => tlv(Tag.OCTET_STRING, b);
export const bitString = (b: Buffer): Buffer => tlv(Tag.BIT_STRING, Buffer.from([0]), b);
export const boolTrue = (): Buffer => Buffer.from([Tag.BOOLEAN, 1, 0xff]);
export const nullValue = (): Buffer => Buffer.from([Tag.NULL, 0]);
/** Context-specific tag n; constructed (explicit wrapper) or primitive (implicit). */
export const ctx = (n: number, constructed: boolean, ...parts: Buffer[]): Buffer =>
  tlv(0x80 | (constructed ? 0x20 : 0) | n, ...parts);

const oidCache = new Map<string, Buffer>();
export function oid(dotted: string): Buffer {
  let b = oidCache.get(dotted);
  if (!b) {
    b = tlv(Tag.OID, Buffer.from(forge.asn1.oidToDer(dotted).getBytes(), 'binary'));
    oidCache.set(dotted, b);
  }
  return b;
}

/** Non-negative INTEGER from big-endian magnitude bytes (adds the sign byte, strips leading zeros). */
export function unsignedInt(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let m = magnitude.subarray(i);
  if (m.length === 0) m = Buffer.from([0]);
  if (m[0]! & 0x80) m = Buffer.concat([Buffer.from([0]), m]);
  return tlv(Tag.INTEGER, m);
}

export function smallInt(n: number): Buffer {
  if (n < 0 || n > 0x7fffffff) throw new RangeError('smallInt out of range');
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  return unsignedInt(Buffer.from(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. Seconds precision, Zulu. */
export function time(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const y = d.getUTCFullYear();
  const rest = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(String(y % 100).padStart(2, '0') + rest, 'ascii'));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, '0') + rest, 'ascii'));
}
