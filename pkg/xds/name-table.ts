import { randomBytes } from 'node:crypto';
import { NameShard, utf8 } from './name-shard';

/**
 * Names held in one shard until a table is this large; then split into
 * SHARDS shards. A shard grows by copying every entry in one synchronous step
 * (for a V8 Set the same step measured 50 ms at 262,144 entries, 97 ms at
 * 524,288, 196 ms at 1,048,576 — docs/reliability.md, *CPU per authenticated
 * stream*), and that step lands inside one slice of a subscription flood,
 * stalling every other stream. Split, one step moves at most ~cap / SHARDS
 * entries.
 */
const SPLIT = 8192;
const SHARDS = 256;

/**
 * Hash of a name's UTF-8 bytes: a seeded FNV-1a plus a murmur3 finish. The
 * seed is random per process so a caller cannot pick names that all land in
 * one shard (which would bring the large step back). One seed for every
 * table: two tables given the same operations iterate in the same order. The
 * low 8 bits choose the shard, the bits above them the slot in it.
 */
const SEED = randomBytes(4).readUInt32LE(0);

function hashBytes(b: Uint8Array, s: number, e: number): number {
  let h = SEED ^ 0x811c9dc5;
  for (let i = s; i < e; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h;
}

/**
 * A set of resource names whose every operation costs a bounded time, however
 * many names it holds (a stream may hold up to xds.maxNamesPerStream), and
 * which holds no JS object per name: names are UTF-8 bytes in NameShards
 * (see name-shard.ts for why). Names are taken and handed out as strings or
 * as bytes; strings are made only when asked for (iteration). Small tables
 * are one shard, iterated in insertion order; split tables iterate shard by
 * shard. Written only by its owner (a Subscription).
 */
export class NameTable implements ReadonlySet<string> {
  private one: NameShard | null = new NameShard();
  private shards: NameShard[] | null = null;
  private n = 0;

  get size(): number {
    return this.n;
  }

  private shard(h: number): NameShard {
    return this.one ?? this.shards![h & (SHARDS - 1)]!;
  }

  has(name: string): boolean {
    if (this.n === 0) return false; // most streams are wildcard: nothing to encode
    const end = utf8.encode(name); // first: it may replace utf8.buf
    return this.hasBytes(utf8.buf, 0, end);
  }

  hasBytes(b: Uint8Array, s: number, e: number): boolean {
    if (this.n === 0) return false;
    const h = hashBytes(b, s, e);
    return this.shard(h).has(b, s, e, h);
  }

  /** Adds a name; true if it was not there. */
  add(name: string): boolean {
    const end = utf8.encode(name); // first: it may replace utf8.buf
    return this.addBytes(utf8.buf, 0, end);
  }

  /** Adds the name whose UTF-8 bytes are b[s, e) (copied); true if it was not there. */
  addBytes(b: Uint8Array, s: number, e: number): boolean {
    const h = hashBytes(b, s, e);
    if (!this.shard(h).add(b, s, e, h)) return false;
    this.n++;
    if (this.one && this.n > SPLIT) this.split();
    return true;
  }

  /** Removes a name; true if it was there. */
  delete(name: string): boolean {
    if (this.n === 0) return false;
    const end = utf8.encode(name); // first: it may replace utf8.buf
    return this.deleteBytes(utf8.buf, 0, end);
  }

  deleteBytes(b: Uint8Array, s: number, e: number): boolean {
    if (this.n === 0) return false;
    const h = hashBytes(b, s, e);
    if (!this.shard(h).delete(b, s, e, h)) return false;
    this.n--;
    return true;
  }

  clear(): void {
    this.one = new NameShard();
    this.shards = null;
    this.n = 0;
  }

  /** Names in the fullest shard (the table's size while unsplit): what one growth step may move. */
  largestShard(): number {
    if (this.one) return this.one.size;
    let max = 0;
    for (const s of this.shards!) max = Math.max(max, s.size);
    return max;
  }

  /** Bytes the table holds outside JS objects (arenas and typed arrays). */
  get bytesHeld(): number {
    if (this.one) return this.one.bytesHeld;
    let sum = 0;
    for (const s of this.shards!) sum += s.bytesHeld;
    return sum;
  }

  /** SPLIT names moved once (about a millisecond); a split table stays split. */
  private split(): void {
    const shards = Array.from({ length: SHARDS }, () => new NameShard());
    this.one!.forEachBytes((b, s, e, h) => shards[h & (SHARDS - 1)]!.add(b, s, e, h));
    this.shards = shards;
    this.one = null;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    if (this.one) {
      yield* this.one.strings();
      return;
    }
    for (const s of this.shards!) yield* s.strings();
  }

  keys(): IterableIterator<string> {
    return this[Symbol.iterator]();
  }

  values(): IterableIterator<string> {
    return this[Symbol.iterator]();
  }

  *entries(): IterableIterator<[string, string]> {
    for (const n of this) yield [n, n];
  }

  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const n of this) fn.call(thisArg, n, n, this);
  }
}
