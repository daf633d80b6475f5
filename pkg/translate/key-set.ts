/**
 * The keys of a map as a ReadonlySet, without copying them: a first (full)
 * generation reports every resource as changed, and at 50k workloads a
 * separate Set of 50k names cost as much as hashing them into the map again.
 * Sound because the map is frozen (never written after the generation).
 */
export class KeySet implements ReadonlySet<string> {
  constructor(private readonly map: ReadonlyMap<string, unknown>) {}

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  forEach(cb: (value: string, value2: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    this.map.forEach((_v, k) => cb.call(thisArg, k, k, this));
  }

  keys(): SetIterator<string> {
    return this.map.keys();
  }

  values(): SetIterator<string> {
    return this.map.keys();
  }

  *entries(): SetIterator<[string, string]> {
    for (const k of this.map.keys()) yield [k, k];
  }

  [Symbol.iterator](): SetIterator<string> {
    return this.map.keys();
  }
}
