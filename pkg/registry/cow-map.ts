/**
 * Copy-on-write sharded map: the registry mutates one of these, and freezing
 * it for a snapshot shares the shard table (copied once, at the next write),
 * never the entries. After a freeze, the first write to a shard clones just
 * that shard, so a one-pod
 * change in a 50k-pod registry costs a few dozen map entries, not 50k.
 *
 * The shard table doubles as the map grows (at most TARGET_PER_SHARD entries
 * per shard on average): with a fixed 128 shards a 50k-pod map cloned ~390
 * entries per first write, and the registry and the translation output both
 * do that for every changed pod in every push — measured as 40 % of the
 * daemon's per-change CPU at 50k pods. Growing re-hashes every entry once per
 * doubling (amortised O(1) per insert); a frozen view keeps its own table.
 */

/** Starting (and smallest) table; below ~4k entries iteration order is that of a fixed 128-shard table. */
export const MIN_SHARDS = 128;
export const MAX_SHARDS = 1 << 16;
export const TARGET_PER_SHARD = 32;

const FNV_OFFSET = 0x811c9dc5;

/** The shard hash of a key (FNV-1a, 32 bit). */
export function keyHash(key: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Shard index of `key` in a table of `n` shards (a power of two). */
export const shardOf = (key: string, n: number): number => keyHash(key) & (n - 1);

/** Immutable view handed out in snapshots. */
export class FrozenMap<V> implements ReadonlyMap<string, V> {
  constructor(
    private readonly shards: readonly (Map<string, V> | undefined)[],
    readonly size: number,
  ) {}

  get(key: string): V | undefined {
    return this.shards[shardOf(key, this.shards.length)]?.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key, this.shards.length)]?.has(key) ?? false;
  }

  /** Faster than iterating entries() (no generator): use it for full scans of big maps. */
  forEach(cb: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    // Map.prototype.forEach does not allocate an [k, v] pair per entry.
    for (const s of this.shards) if (s) s.forEach((v, k) => cb(v, k, this));
  }

  *entries(): MapIterator<[string, V]> {
    for (const s of this.shards) if (s) yield* s.entries();
  }

  *keys(): MapIterator<string> {
    for (const s of this.shards) if (s) yield* s.keys();
  }

  *values(): MapIterator<V> {
    for (const s of this.shards) if (s) yield* s.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  /**
   * The shard table, read only: shard i holds the keys whose shardOf(key, table.length) is i (ShardTable.mapFrom
   * builds a table of the same layout without hashing).
   */
  get table(): readonly (ReadonlyMap<string, V> | undefined)[] {
    return this.shards;
  }

  /** A writable copy that shares every shard until it is written to. */
  thaw(): CowMap<V> {
    return CowMap.fromShards(this.shards, this.size);
  }
}

/** The single writer's mutable side. */
export class CowMap<V> {
  private shards: (Map<string, V> | undefined)[] = new Array<Map<string, V> | undefined>(MIN_SHARDS).fill(undefined);
  /**
   * The table array itself is held by a frozen view (or is the one thawed
   * from): copied once before the first write. Freezing and thawing thus
   * cost O(1), not a pass over up to 64k shard slots per change.
   */
  private tableShared = false;
  /** Shard i may be written in place iff owned[i] === epoch; freeze() bumps epoch, sharing every shard at once. */
  private owned = new Uint32Array(MIN_SHARDS);
  private epoch = 1;
  private count = 0;
  private frozen: FrozenMap<V> | undefined;

  get size(): number {
    return this.count;
  }

  static fromShards<V>(shards: readonly (Map<string, V> | undefined)[], size: number): CowMap<V> {
    const m = new CowMap<V>();
    // A frozen table is never written: share it, and own none of its shards (owned[] is all 0, epoch 1).
    m.shards = shards as (Map<string, V> | undefined)[];
    m.tableShared = true;
    m.owned = new Uint32Array(shards.length);
    m.count = size;
    return m;
  }

  /**
   * A map of `keys[i] -> values[i]` (keys distinct) with its table sized up
   * front: the same table, in the same iteration order, that inserting them
   * one by one with set() leaves (a doubling keeps each shard's insertion
   * order), without re-hashing every entry at each doubling.
   */
  static fromEntries<V>(keys: readonly string[], values: readonly V[]): CowMap<V> {
    let n = MIN_SHARDS;
    // set() doubles before an insert that finds count >= n * TARGET_PER_SHARD.
    while (n < MAX_SHARDS && keys.length > n * TARGET_PER_SHARD) n *= 2;
    const m = new CowMap<V>();
    const shards: (Map<string, V> | undefined)[] = new Array<Map<string, V> | undefined>(n).fill(undefined);
    for (let i = 0; i < keys.length; i++) {
      const j = shardOf(keys[i]!, n);
      (shards[j] ??= new Map()).set(keys[i]!, values[i]!);
    }
    m.shards = shards;
    m.owned = new Uint32Array(n).fill(m.epoch);
    m.count = keys.length;
    return m;
  }

  /** Number of shards in the table (grows with the map). */
  get shardCount(): number {
    return this.shards.length;
  }

  has(key: string): boolean {
    return this.shards[shardOf(key, this.shards.length)]?.has(key) ?? false;
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key, this.shards.length)]?.get(key);
  }

  set(key: string, value: V): void {
    if (this.count >= this.shards.length * TARGET_PER_SHARD && this.shards.length < MAX_SHARDS && !this.has(key))
      this.grow();
    const m = this.writable(shardOf(key, this.shards.length));
    if (!m.has(key)) this.count++;
    m.set(key, value);
  }

  delete(key: string): boolean {
    const i = shardOf(key, this.shards.length);
    if (!this.shards[i]?.has(key)) return false;
    this.writable(i).delete(key);
    this.count--;
    return true;
  }

  /** An immutable view of the current contents; cached until the next write. */
  freeze(): FrozenMap<V> {
    if (!this.frozen) {
      this.frozen = new FrozenMap(this.shards, this.count);
      this.tableShared = true;
      this.epoch++;
    }
    return this.frozen;
  }

  /** Doubles the table: every entry moves to a fresh, unshared shard (frozen views keep the old table). */
  private grow(): void {
    const n = this.shards.length * 2;
    const next: (Map<string, V> | undefined)[] = new Array<Map<string, V> | undefined>(n).fill(undefined);
    for (const s of this.shards) {
      s?.forEach((v, k) => {
        const i = shardOf(k, n);
        (next[i] ??= new Map()).set(k, v);
      });
    }
    this.shards = next;
    this.tableShared = false;
    this.owned = new Uint32Array(n).fill(this.epoch);
    this.frozen = undefined;
  }

  private writable(i: number): Map<string, V> {
    this.frozen = undefined;
    if (this.tableShared) {
      this.shards = this.shards.slice();
      this.tableShared = false;
    }
    let m = this.shards[i];
    if (!m) {
      m = new Map();
      this.shards[i] = m;
      this.owned[i] = this.epoch;
    } else if (this.owned[i] !== this.epoch) {
      m = new Map(m);
      this.shards[i] = m;
      this.owned[i] = this.epoch;
    }
    return m;
  }
}
