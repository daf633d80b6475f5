/**
 * A set of names held as UTF-8 bytes: one byte arena and three Int32Arrays
 * (per entry: arena offset, byte length, hash) in insertion order, indexed by
 * an open-addressing table of entry numbers (linear probing). It holds no
 * object per name, so however many names a stream subscribes the garbage
 * collector has a handful of objects to mark and none to copy. With names as
 * strings, a subscription flood's names survived every scavenge until
 * promoted and a mark-compact marked all of them: `node --expose-gc
 * dist/bench/names-cost.js` measured scavenges of up to 77 ms during the
 * flood's path (docs/reliability.md, *CPU per authenticated stream*).
 *
 * A deleted entry keeps its slot (a tombstone: its length is -1, which no
 * probe matches) until the shard is rebuilt, when its entries array or arena
 * is full: live entries are copied in order into fresh arrays (see rebuild).
 * Written only by its owner (a NameTable); not changed while iterated.
 */
const EMPTY_BYTES = Buffer.alloc(0);
const EMPTY_I32 = new Int32Array(0);
const MIN_ENTRIES = 8;
const MIN_ARENA = 128;

/**
 * A string's UTF-8 bytes in one reused buffer (`buf[0, encode(s))`, valid until the next encode): names are
 * looked up and stored as bytes, so a string is encoded once and not kept. ASCII (every resource name a ztunnel
 * asks for) is copied by a loop; anything else goes through Buffer.write.
 */
export const utf8 = {
  buf: Buffer.allocUnsafeSlow(1024),
  encode(s: string): number {
    if (s.length > this.buf.length) this.buf = Buffer.allocUnsafeSlow(2 * s.length);
    const b = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        const n = Buffer.byteLength(s, 'utf8');
        if (n > this.buf.length) this.buf = Buffer.allocUnsafeSlow(2 * n);
        return this.buf.write(s, 0, 'utf8');
      }
      b[i] = c;
    }
    return s.length;
  },
};

export class NameShard {
  private arena: Buffer = EMPTY_BYTES;
  /** Arena bytes in use (live and deleted entries). */
  private top = 0;
  /** Arena bytes of deleted entries. */
  private deadBytes = 0;
  private off: Int32Array = EMPTY_I32;
  /** Byte length per entry; -1 = deleted. */
  private len: Int32Array = EMPTY_I32;
  private hash: Int32Array = EMPTY_I32;
  /** Entries used, deleted ones included. */
  private count = 0;
  private live = 0;
  /** Entry number + 1 per slot; 0 = empty. Twice the entries' capacity (load at most 1/2). */
  private slots: Int32Array = EMPTY_I32;

  get size(): number {
    return this.live;
  }

  /** Bytes held (arena + arrays): what the shard costs outside the JS heap's objects. */
  get bytesHeld(): number {
    return this.arena.length + 4 * (3 * this.off.length + this.slots.length);
  }

  /** The entry holding bytes b[s, e) with hash h, or -1. */
  private find(b: Uint8Array, s: number, e: number, h: number): number {
    if (this.live === 0) return -1;
    const n = e - s;
    const mask = this.slots.length - 1;
    const slots = this.slots;
    for (let i = (h >>> 8) & mask; ; i = (i + 1) & mask) {
      const x = slots[i]!;
      if (x === 0) return -1;
      const k = x - 1;
      if (this.hash[k] === h && this.len[k] === n && this.same(this.off[k]!, b, s, n)) return k;
    }
  }

  private same(at: number, b: Uint8Array, s: number, n: number): boolean {
    const a = this.arena;
    for (let i = 0; i < n; i++) if (a[at + i] !== b[s + i]) return false;
    return true;
  }

  has(b: Uint8Array, s: number, e: number, h: number): boolean {
    return this.find(b, s, e, h) >= 0;
  }

  /** Adds bytes b[s, e) (copied) with hash h; true if they were not there. */
  add(b: Uint8Array, s: number, e: number, h: number): boolean {
    if (this.find(b, s, e, h) >= 0) return false;
    const n = e - s;
    if (this.count === this.off.length || this.top + n > this.arena.length) this.rebuild(n);
    const k = this.count++;
    this.off[k] = this.top;
    this.len[k] = n;
    this.hash[k] = h;
    this.arena.set(b.subarray(s, e), this.top);
    this.top += n;
    this.place(k);
    this.live++;
    return true;
  }

  /** Removes bytes b[s, e) with hash h; true if they were there. */
  delete(b: Uint8Array, s: number, e: number, h: number): boolean {
    const k = this.find(b, s, e, h);
    if (k < 0) return false;
    this.deadBytes += this.len[k]!;
    this.len[k] = -1;
    this.live--;
    return true;
  }

  private place(k: number): void {
    const mask = this.slots.length - 1;
    let i = (this.hash[k]! >>> 8) & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = k + 1;
  }

  /**
   * Copies the live entries, in order, into arrays at least 4/3 the size they need (doubling from the current
   * size), plus `extra` arena bytes. After a rebuild at least a quarter of the entries and arena is free, so the
   * rebuilds' cost is a few copies per name added, and what is held is at most ~2.7× what is live.
   */
  private rebuild(extra: number): void {
    let entries = Math.max(MIN_ENTRIES, this.off.length);
    while (3 * entries < 4 * (this.live + 1)) entries *= 2;
    let bytes = Math.max(MIN_ARENA, this.arena.length);
    const need = this.top - this.deadBytes + extra;
    while (3 * bytes < 4 * need) bytes *= 2;
    const arena = Buffer.allocUnsafe(bytes);
    const off = new Int32Array(entries);
    const len = new Int32Array(entries);
    const hash = new Int32Array(entries);
    let at = 0;
    let j = 0;
    for (let k = 0; k < this.count; k++) {
      const n = this.len[k]!;
      if (n < 0) continue;
      this.arena.copy(arena, at, this.off[k], this.off[k]! + n);
      off[j] = at;
      len[j] = n;
      hash[j] = this.hash[k]!;
      at += n;
      j++;
    }
    this.arena = arena;
    this.off = off;
    this.len = len;
    this.hash = hash;
    this.top = at;
    this.deadBytes = 0;
    this.count = j;
    this.slots = new Int32Array(2 * entries);
    for (let k = 0; k < j; k++) this.place(k);
  }

  /** Calls fn(arena, start, end, hash) for each live name, in insertion order (fn must not change the shard). */
  forEachBytes(fn: (b: Buffer, s: number, e: number, h: number) => void): void {
    for (let k = 0; k < this.count; k++) {
      const n = this.len[k]!;
      if (n >= 0) fn(this.arena, this.off[k]!, this.off[k]! + n, this.hash[k]!);
    }
  }

  /** The live names as strings, in insertion order (one UTF-8 decode each, made as iterated). */
  *strings(): IterableIterator<string> {
    for (let k = 0; k < this.count; k++) {
      const n = this.len[k]!;
      if (n >= 0) yield this.arena.toString('utf8', this.off[k], this.off[k]! + n);
    }
  }
}
