import { randomBytes } from 'node:crypto';

/**
 * Names held in one Set until a table is this large; then split into SHARDS
 * Sets. V8 grows a Set by rehashing every entry in one synchronous step
 * (measured on this machine: 50 ms at 262,144 entries, 97 ms at 524,288,
 * 196 ms at 1,048,576 — docs/reliability.md, *CPU per authenticated stream*),
 * and that step lands inside one slice of a subscription flood, stalling
 * every other stream. Split, one Set rehashes at most ~cap / SHARDS entries.
 */
const SPLIT = 8192;
const SHARDS = 256;

/**
 * Shard choice: a seeded FNV-1a over the UTF-16 units plus a murmur3 finish.
 * The seed is random per process so a caller cannot pick names that all land
 * in one shard (which would bring the large rehash back). One seed for every
 * table: two tables given the same operations iterate in the same order.
 */
const SEED = randomBytes(4).readUInt32LE(0);

function shardOf(s: string): number {
  let h = SEED ^ 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h & (SHARDS - 1);
}

/**
 * A set of resource names whose every operation costs a bounded time, however
 * many names it holds (a stream may hold up to xds.maxNamesPerStream). Small
 * tables are one Set, iterated in insertion order; split tables iterate shard
 * by shard. Written only by its owner (a Subscription).
 */
export class NameTable implements ReadonlySet<string> {
  private one: Set<string> | null = new Set();
  private shards: Set<string>[] | null = null;
  private n = 0;

  get size(): number {
    return this.n;
  }

  has(name: string): boolean {
    if (this.one) return this.one.has(name);
    return this.shards![shardOf(name)]!.has(name);
  }

  /** Adds a name; true if it was not there. */
  add(name: string): boolean {
    const set = this.one ?? this.shards![shardOf(name)]!;
    const before = set.size;
    set.add(name);
    if (set.size === before) return false;
    this.n++;
    if (this.one && this.n > SPLIT) this.split();
    return true;
  }

  /** Removes a name; true if it was there. */
  delete(name: string): boolean {
    const set = this.one ?? this.shards![shardOf(name)]!;
    if (!set.delete(name)) return false;
    this.n--;
    return true;
  }

  clear(): void {
    this.one = new Set();
    this.shards = null;
    this.n = 0;
  }

  /** Names in the fullest shard (the table's size while unsplit): what one rehash may move. */
  largestShard(): number {
    if (this.one) return this.one.size;
    let max = 0;
    for (const s of this.shards!) max = Math.max(max, s.size);
    return max;
  }

  /** SPLIT names moved once (about a millisecond); a split table stays split. */
  private split(): void {
    const shards = Array.from({ length: SHARDS }, () => new Set<string>());
    for (const name of this.one!) shards[shardOf(name)]!.add(name);
    this.shards = shards;
    this.one = null;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    if (this.one) {
      yield* this.one;
      return;
    }
    for (const s of this.shards!) yield* s;
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
