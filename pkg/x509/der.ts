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

/**
 * X.690 §8.19: first octet 40*arc0+arc1, then base-128 arcs with the high bit
 * as continuation. Decoded here (forge's decoder first copies the bytes into a
 * binary string: a measurable share of a CSR's parse time). Arcs beyond 2^53
 * go through BigInt so no OID is ever silently misread.
 */
export function decodeOid(buf: Buffer, t: Tlv): string {
  expectTag(t, Tag.OID, 'OBJECT IDENTIFIER');
  if (t.end <= t.valueStart) throw new DerError('empty OBJECT IDENTIFIER');
  const arcs: Array<number | bigint> = [];
  let n = 0;
  let big: bigint | undefined;
  let first = true;
  for (let p = t.valueStart; p < t.end; p++) {
    const b = buf[p]!;
    // A leading 0x80 would be a non-minimal encoding (X.690 §8.19.2).
    if (b === 0x80 && n === 0 && big === undefined) throw new DerError('non-minimal OID arc');
    if (big !== undefined) big = big * 128n + BigInt(b & 0x7f);
    else if (n > 2 ** 45) big = BigInt(n) * 128n + BigInt(b & 0x7f);
    else n = n * 128 + (b & 0x7f);
    if (b & 0x80) continue;
    const arc = big ?? n;
    if (first) {
      // arc0 is 0, 1 or 2; arc1 < 40 unless arc0 is 2.
      if (typeof arc === 'bigint') arcs.push(2, arc - 80n);
      else if (arc < 80) arcs.push(Math.floor(arc / 40), arc % 40);
      else arcs.push(2, arc - 80);
      first = false;
    } else arcs.push(arc);
    n = 0;
    big = undefined;
  }
  if (buf[t.end - 1]! & 0x80) throw new DerError('truncated OID arc');
  return arcs.join('.');
}

function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`bad OID ${dotted}`);
    return BigInt(a);
  });
  if (arcs.length < 2 || arcs[0]! > 2n || (arcs[0]! < 2n && arcs[1]! >= 40n)) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: bigint) => {
    const groups = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...groups);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return Buffer.from(out);
}

// ---- writer ----

function lengthOfLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5;
}

/** Bytes a TLV header (tag + length octets) takes for `len` content bytes. */
export function headerLength(len: number): number {
  return 1 + lengthOfLength(len);
}

/** Writes a TLV header for `len` content bytes at `offset`; returns the offset of the first content byte. */
export function writeHeader(out: Buffer, offset: number, tag: number, len: number): number {
  const ll = lengthOfLength(len);
  out[offset] = tag;
  if (ll === 1) out[offset + 1] = len;
  else {
    out[offset + 1] = 0x80 | (ll - 1);
    for (let i = ll - 1, v = len; i >= 1; i--, v = Math.floor(v / 256)) out[offset + 1 + i] = v & 0xff;
  }
  return offset + 1 + ll;
}

/**
 * One allocation per TLV: header and every part are copied once into a buffer
 * of the final size (concatenating [tag], [length] and a concatenated body
 * allocated three or four buffers per node of a certificate).
 */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let p = writeHeader(out, 0, tag, len);
  for (const part of parts) p += part.copy(out, p);
  return out;
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
    b = tlv(Tag.OID, encodeOid(dotted));
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

// Every certificate issued in the same second encodes the same NotBefore (and,
// for equal TTLs, NotAfter): remember the last few encodings.
const timeCache = new Map<number, Buffer>();

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. Seconds precision, Zulu. */
export function time(ms: number): Buffer {
  const s = Math.floor(ms / 1000);
  let b = timeCache.get(s);
  if (!b) {
    b = encodeTime(s);
    if (timeCache.size >= 8) timeCache.delete(timeCache.keys().next().value as number);
    timeCache.set(s, b);
  }
  // A copy: callers own what they get (the cache must never be mutated through it).
  return Buffer.from(b);
}

function encodeTime(seconds: number): Buffer {
  const d = new Date(seconds * 1000);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const y = d.getUTCFullYear();
  const rest = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(String(y % 100).padStart(2, '0') + rest, 'ascii'));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, '0') + rest, 'ascii'));
}
