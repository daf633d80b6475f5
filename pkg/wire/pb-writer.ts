/**
 * The few primitives the generated encoders (pb-generated.ts) call. Sizes are
 * computed first, then bytes written straight into one buffer the caller
 * sized, so nothing is copied twice and no intermediate buffer exists
 * (protobufjs's Writer keeps a list of operations and allocates per finish).
 * Wire format: https://protobuf.dev/programming-guides/encoding/ (varints are
 * little-endian base-128; a negative int32 is sign-extended to 10 bytes).
 */

/** Bytes of a varint holding n: an unsigned 32-bit value, or a negative int32 (10 bytes). */
export function varintSize(n: number): number {
  if (n < 0) return 10;
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes n (as varintSize counts it) at b[at]; returns the offset after it. */
export function putVarint(b: Uint8Array, at: number, n: number): number {
  if (n < 0) {
    // int32 sign extension: the low 32 bits, then all-ones up to 64 bits.
    let v = n >>> 0;
    for (let i = 0; i < 4; i++) {
      b[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[at++] = v | 0x70 | 0x80; // bits 28..31 plus sign bits 32..34
    for (let i = 0; i < 4; i++) b[at++] = 0xff;
    b[at++] = 0x01;
    return at;
  }
  while (n >= 0x80) {
    b[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  b[at++] = n;
  return at;
}

/** UTF-8 byte length of s (lone surrogates count 3, as Buffer and protobufjs encode them as U+FFFD). */
export function utf8Size(s: string): number {
  const len = s.length;
  let n = len;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < len && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 4 bytes for 2 UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

/** Short ASCII strings are copied by a JS loop: below this a Buffer write's native call costs more. */
const SHORT = 32;

/** Writes s (n = utf8Size(s) bytes) at b[at]; returns the offset after it. */
export function putString(b: Buffer, at: number, s: string, n: number): number {
  if (n === s.length) {
    if (n <= SHORT) {
      for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
      return at + n;
    }
    return at + b.write(s, at, n, 'latin1');
  }
  return at + b.write(s, at, n, 'utf8');
}

/** Copies bytes v at b[at]; returns the offset after them. */
export function putBytes(b: Buffer, at: number, v: Uint8Array): number {
  const n = v.length;
  if (n <= 16) for (let i = 0; i < n; i++) b[at + i] = v[i]!;
  else b.set(v, at);
  return at + n;
}
