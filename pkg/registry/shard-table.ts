import { FrozenMap, MAX_SHARDS, MIN_SHARDS, shardOf, TARGET_PER_SHARD } from './cow-map';

/** One shard: its keys and their values, index for index. */
export interface Shard<V> {
  readonly keys: string[];
  readonly vals: V[];
}

type Shards<V> = readonly (Shard<V> | undefined)[];

/** The value of `key` in `shards`, found by its CowMap shard and a scan of that shard. */
function lookup<V>(shards: Shards<V>, key: string): V | undefined {
  const s = shards[shardOf(key, shards.length)];
  if (!s) return undefined;
  const j = s.keys.indexOf(key);
  return j < 0 ? undefined : s.vals[j];
}

/** Whether `shards` hold `key`. */
const holds = <V>(shards: Shards<V>, key: string): boolean =>
  shards[shardOf(key, shards.length)]?.keys.includes(key) ?? false;

/**
 * An immutable map held as two arrays per shard, keys and values, laid out like the FrozenMap it was built from:
 * mapFrom() walks that map's shards and appends to the same shard here, so building hashes no key and inserts into
 * no hash table. Why: a full translation put 50k pod Addresses into shard Maps, and the Map.set alone (hash table
 * growth, its garbage) cost ~0.3 µs of ~2.2 µs per pod (docs/design/translate-floor.md, session 16). A lookup hashes
 * the key (keyHash, as CowMap does) and scans its shard: at most ~TARGET_PER_SHARD keys on average. Iteration is in
 * shard order, each shard in insertion order.
 */
export class ShardTable<V> implements ReadonlyMap<string, V> {
  constructor(
    private readonly shards: Shards<V>,
    readonly size: number,
  ) {}

  /**
   * `src`'s keys, each with fn(its value); an entry whose result is undefined is left out. `touch`, when given, is
   * called on every value of a shard before `fn` runs on them: a short loop of loads whose cache misses overlap,
   * where `fn`'s first reads of each value, one long call apart, would wait for one miss at a time (a full
   * translation: 1.85 -> 1.44 µs per pod touching three fields; docs/design/translate-floor.md, session 16).
   */
  static mapFrom<T, V>(
    src: FrozenMap<T>,
    fn: (value: T) => V | undefined,
    touch?: (value: T) => number,
  ): ShardTable<V> {
    const table = src.table;
    const shards = new Array<Shard<V> | undefined>(table.length).fill(undefined);
    let size = 0;
    let touched = 0;
    for (let i = 0; i < table.length; i++) {
      const m = table[i];
      if (!m) continue;
      if (touch) m.forEach((v) => (touched += touch(v)));
      const keys: string[] = [];
      const vals: V[] = [];
      m.forEach((v, k) => {
        const w = fn(v);
        if (w === undefined) return;
        keys.push(k);
        vals.push(w);
      });
      if (keys.length === 0) continue;
      shards[i] = { keys, vals };
      size += keys.length;
    }
    // The sum is read, so the compiler keeps the loads that made it.
    if (Number.isNaN(touched)) throw new Error('touch returned NaN');
    return new ShardTable(shards, size);
  }

  /** Number of shards: a key is in shard shardOf(key, shardCount). */
  get shardCount(): number {
    return this.shards.length;
  }

  get(key: string): V | undefined {
    return lookup(this.shards, key);
  }

  has(key: string): boolean {
    return holds(this.shards, key);
  }

  forEach(cb: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const s of this.shards) if (s) for (let j = 0; j < s.keys.length; j++) cb(s.vals[j]!, s.keys[j]!, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const s of this.shards) if (s) for (let j = 0; j < s.keys.length; j++) yield [s.keys[j]!, s.vals[j]!];
  }

  *keys(): MapIterator<string> {
    for (const s of this.shards) if (s) yield* s.keys;
  }

  *values(): MapIterator<V> {
    for (const s of this.shards) if (s) yield* s.vals;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  /** A writer that starts from this table and copies a shard only when it first writes to it. */
  thaw(): ShardTableWriter<V> {
    return new ShardTableWriter(this.shards, this.size);
  }
}

/**
 * The single writer of a ShardTable's next version. The shard list is copied at the first write, a shard's arrays
 * at the first write to that shard; freeze() hands out the current contents and makes the next write copy again,
 * so a frozen table never changes. The table doubles (every key re-hashed once) when it averages more than
 * TARGET_PER_SHARD keys per shard, as CowMap does, so a lookup's scan stays short however the map grows.
 */
export class ShardTableWriter<V> {
  private shards: (Shard<V> | undefined)[];
  private shared = true;
  /** Shards this writer made since the last freeze (written in place). */
  private own = new Set<number>();
  private count: number;
  private frozen: ShardTable<V> | undefined;

  constructor(shards: readonly (Shard<V> | undefined)[], size: number) {
    this.shards = shards.length > 0 ? (shards as (Shard<V> | undefined)[]) : [undefined];
    this.count = size;
  }

  /** An empty table of `n` shards (a power of two). */
  static empty<V>(n = MIN_SHARDS): ShardTableWriter<V> {
    return new ShardTableWriter<V>(new Array<Shard<V> | undefined>(n).fill(undefined), 0);
  }

  get size(): number {
    return this.count;
  }

  /** Number of shards in the table (grows with the map). */
  get shardCount(): number {
    return this.shards.length;
  }

  get(key: string): V | undefined {
    return lookup(this.shards, key);
  }

  set(key: string, value: V): void {
    if (this.count >= this.shards.length * TARGET_PER_SHARD && this.shards.length < MAX_SHARDS && !this.has(key))
      this.grow();
    const s = this.writable(shardOf(key, this.shards.length));
    const j = s.keys.indexOf(key);
    if (j >= 0) {
      s.vals[j] = value;
      return;
    }
    s.keys.push(key);
    s.vals.push(value);
    this.count++;
  }

  delete(key: string): boolean {
    const i = shardOf(key, this.shards.length);
    // The index is the same in the shard's copy that writable() may make.
    const j = this.shards[i]?.keys.indexOf(key) ?? -1;
    if (j < 0) return false;
    const s = this.writable(i);
    s.keys.splice(j, 1);
    s.vals.splice(j, 1);
    this.count--;
    return true;
  }

  has(key: string): boolean {
    return holds(this.shards, key);
  }

  /** The current contents, immutable; cached until the next write. */
  freeze(): ShardTable<V> {
    if (!this.frozen) {
      this.frozen = new ShardTable(this.shards, this.count);
      this.shared = true;
      this.own = new Set();
    }
    return this.frozen;
  }

  private writable(i: number): Shard<V> {
    this.frozen = undefined;
    if (this.shared) {
      this.shards = this.shards.slice();
      this.shared = false;
    }
    let s = this.shards[i];
    if (!this.own.has(i)) {
      s = s ? { keys: s.keys.slice(), vals: s.vals.slice() } : { keys: [], vals: [] };
      this.shards[i] = s;
      this.own.add(i);
    }
    return s!;
  }

  /** Doubles the shard count: every entry moves to a fresh shard (frozen tables keep theirs). */
  private grow(): void {
    const n = this.shards.length * 2;
    const next = new Array<Shard<V> | undefined>(n).fill(undefined);
    const own = new Set<number>();
    for (const s of this.shards) {
      if (!s) continue;
      for (let j = 0; j < s.keys.length; j++) {
        const i = shardOf(s.keys[j]!, n);
        let t = next[i];
        if (!t) {
          next[i] = t = { keys: [], vals: [] };
          own.add(i);
        }
        t.keys.push(s.keys[j]!);
        t.vals.push(s.vals[j]!);
      }
    }
    this.shards = next;
    this.shared = false;
    this.own = own;
    this.frozen = undefined;
  }
}
