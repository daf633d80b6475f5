/**
 * Copy-on-write sharded map: the registry mutates one of these, and freezing
 * it for a snapshot copies only the shard table, not the entries. After a
 * freeze, the first write to a shard clones just that shard (~1/SHARDS of the
 * entries), so a one-pod change in a 50k-pod registry costs a few hundred
 * map entries, not 50k.
 */

const SHARDS = 128;

function shardOf(key: string): number {
  // FNV-1a, 32 bit.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & (SHARDS - 1);
}

/** Immutable view handed out in snapshots. */
export class FrozenMap<V> implements ReadonlyMap<string, V> {
  constructor(
    private readonly shards: readonly (Map<string, V> | undefined)[],
    readonly size: number,
  ) {}

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]?.has(key) ?? false;
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

  /** A writable copy that shares every shard until it is written to. */
  thaw(): CowMap<V> {
    return CowMap.fromShards(this.shards, this.size);
  }
}

/** The single writer's mutable side. */
export class CowMap<V> {
  private shards: (Map<string, V> | undefined)[] = new Array(SHARDS).fill(undefined);
  private shared: boolean[] = new Array(SHARDS).fill(false);
  private count = 0;
  private frozen: FrozenMap<V> | undefined;

  get size(): number {
    return this.count;
  }

  static fromShards<V>(shards: readonly (Map<string, V> | undefined)[], size: number): CowMap<V> {
    const m = new CowMap<V>();
    m.shards = shards.slice();
    m.shared.fill(true);
    m.count = size;
    return m;
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]?.has(key) ?? false;
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  set(key: string, value: V): void {
    const m = this.writable(shardOf(key));
    if (!m.has(key)) this.count++;
    m.set(key, value);
  }

  delete(key: string): boolean {
    const i = shardOf(key);
    if (!this.shards[i]?.has(key)) return false;
    this.writable(i).delete(key);
    this.count--;
    return true;
  }

  /** An immutable view of the current contents; cached until the next write. */
  freeze(): FrozenMap<V> {
    if (!this.frozen) {
      this.frozen = new FrozenMap(this.shards.slice(), this.count);
      this.shared.fill(true);
    }
    return this.frozen;
  }

  private writable(i: number): Map<string, V> {
    this.frozen = undefined;
    let m = this.shards[i];
    if (!m) {
      m = new Map();
      this.shards[i] = m;
      this.shared[i] = false;
    } else if (this.shared[i]) {
      m = new Map(m);
      this.shards[i] = m;
      this.shared[i] = false;
    }
    return m;
  }
}
