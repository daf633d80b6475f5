/**
 * Reading our own encoded bytes back (frames and messages this process wrote): no bounds checks beyond the range
 * given, since the bytes are not input. Wire types: protobuf encoding (0 varint, 1 fixed64, 2 length-delimited,
 * 5 fixed32).
 */

/** The varint at b[at]: [value, offset after it]. */
export function readVarint(b: Uint8Array, at: number): [number, number] {
  let n = 0;
  for (let shift = 0; ; shift += 7) {
    const c = b[at++]!;
    n += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) return [n, at];
  }
}

/**
 * Calls visit(field, start, end) for each length-delimited field of the message in b[start, end), in the order
 * the bytes hold them; other wire types are skipped. A visit that returns false ends the walk: this process
 * writes fields in field-number order (the generated writers, checked against protoc), so a reader that wants the
 * first few fields stops at the first number past them.
 */
export function forEachLenField(
  b: Uint8Array,
  start: number,
  end: number,
  visit: (field: number, start: number, end: number) => unknown,
): void {
  let at = start;
  while (at < end) {
    const [tag, p] = readVarint(b, at);
    const wt = tag & 7;
    if (wt === 2) {
      const [len, s] = readVarint(b, p);
      if (visit(Math.floor(tag / 8), s, s + len) === false) return;
      at = s + len;
    } else if (wt === 0) at = readVarint(b, p)[1];
    else if (wt === 1) at = p + 8;
    else if (wt === 5) at = p + 4;
    else throw new Error(`wire type ${wt} at ${at}: not a message this process wrote`);
  }
}
