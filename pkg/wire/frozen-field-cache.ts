/**
 * One field's encoded bytes per deep-frozen value, for the generated writers (tools/protogen/emit-message.ts): a
 * frozen object of plain data (message objects have no accessors) and everything it holds cannot change, so its
 * field bytes written once are its bytes for good. The
 * translator shares one frozen `services` map and one frozen policy list among all the pods a selection covers
 * (pkg/translate/selection.ts), so each Workload writes them as one copy instead of field by field.
 *
 * Values that are not frozen, or hold something that is not (a byte array cannot be frozen), are written as
 * before, and checked once: a frozen value found not deep-frozen is remembered as such.
 */
export class FrozenFieldCache {
  /** Per frozen value: its field bytes, or null when it holds something unfrozen. */
  private readonly bytes = new WeakMap<object, Uint8Array | null>();

  /** v's field bytes when v is deep-frozen and they were kept before; otherwise undefined. */
  get(v: object): Uint8Array | undefined {
    return Object.isFrozen(v) ? (this.bytes.get(v) ?? undefined) : undefined;
  }

  /** Keeps b[start, end), just written for v, when v is deep-frozen (start < 0: nothing was written there). */
  keep(v: object, b: Uint8Array, start: number, end: number): void {
    if (start < 0 || !Object.isFrozen(v) || this.bytes.has(v)) return;
    // A copy: the writer's buffer is reused (and Buffer#slice would be a view of it).
    this.bytes.set(v, deepFrozen(v, 0) ? Uint8Array.prototype.slice.call(b, start, end) : null);
  }
}

/** Whether v and every object it holds are frozen (message trees are shallow: a depth past 32 counts as not). */
function deepFrozen(v: object, depth: number): boolean {
  if (depth > 32 || !Object.isFrozen(v)) return false;
  for (const x of Object.values(v)) {
    if (typeof x === 'object' && x !== null && !deepFrozen(x as object, depth + 1)) return false;
  }
  return true;
}
