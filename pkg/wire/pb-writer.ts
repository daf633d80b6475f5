/**
 * The few primitives the generated encoders (pkg/wire/generated/) call. They
 * write backwards: each puts its bytes so they end at a given offset and
 * returns where they start, so a length prefix is written once the bytes it
 * counts are in place, and nothing is sized first or copied twice
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

/** Writes n (varintSize(n) bytes) so it ends at b[at]; returns where it starts. */
export function putVarintBack(b: Uint8Array, at: number, n: number): number {
  if (n >= 0 && n < 0x80) {
    b[at - 1] = n;
    return at - 1;
  }
  const start = at - varintSize(n);
  putVarint(b, start, n);
  return start;
}

/**
 * Writes s as UTF-8 so it ends at b[at]; returns where it starts. ASCII is
 * copied by a JS loop (one scan: no separate length pass); the first
 * non-ASCII unit switches to Buffer's UTF-8 writer for the whole string. A
 * start below 0 (b too small) writes nothing there: the caller retries.
 */
export function putUtf8Back(b: Buffer, at: number, s: string): number {
  const n = s.length;
  const start = at - n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return putUtf8Slow(b, at, s);
    b[start + i] = c;
  }
  return start;
}

function putUtf8Slow(b: Buffer, at: number, s: string): number {
  const n = utf8Size(s);
  const start = at - n;
  if (start >= 0) b.write(s, start, n, 'utf8');
  return start;
}

/** A length-delimited string: its UTF-8 bytes, then (before them) their length. */
export function putStringBack(b: Buffer, at: number, s: string): number {
  const start = putUtf8Back(b, at, s);
  return putVarintBack(b, start, at - start);
}

/**
 * Raw bytes written so they end at b[at]; returns where they start (below 0: b too small, nothing written). A loop
 * for short pieces: TypedArray#set's call costs more than copying a few bytes.
 */
export function putRawBack(b: Uint8Array, at: number, raw: Uint8Array): number {
  const n = raw.length;
  const start = at - n;
  if (start < 0) return start;
  if (n <= 16) for (let i = 0; i < n; i++) b[start + i] = raw[i]!;
  else b.set(raw, start);
  return start;
}

/** Length-delimited bytes: a copy of v, then (before it) its length. */
export function putBytesBack(b: Uint8Array, at: number, v: Uint8Array): number {
  return putVarintBack(b, putRawBack(b, at, v), v.length);
}

/**
 * Where a frame writer put copies of one string (the resource name) while writing backwards: the generated
 * writers mark the start of each name field (gen-encoders.ts NAME_FIELDS) whose value is `name`. Later marks
 * are lower offsets, so `first` < `second`; -1 = none. More than two copies keep the lowest two.
 */
export class NameMarks {
  name = '';
  first = -1;
  second = -1;

  reset(name: string): void {
    this.name = name;
    this.first = -1;
    this.second = -1;
  }

  mark(at: number): void {
    this.second = this.first;
    this.first = at;
  }
}
