/**
 * initial_resource_versions kept as offsets into the request bytes. A
 * reconnecting ztunnel lists every resource it holds (50k+ entries); turning
 * each into two JS strings and a Map entry dominated reconnect cost. The
 * cache can match entries by bytes (InitialVersions.forEachRaw), and the Map
 * form is built only when something needs it.
 */
export class InitialVersions implements Iterable<[string, string]> {
  private map?: Map<string, string>;

  /** offs holds 4 numbers per entry: nameStart, nameEnd, versionStart, versionEnd. */
  constructor(readonly buf: Buffer, private readonly offs: Uint32Array, readonly size: number) {}

  static fromMap(m: Map<string, string>): InitialVersions {
    const iv = new InitialVersions(Buffer.alloc(0), new Uint32Array(0), m.size);
    iv.map = m;
    return iv;
  }

  /** Calls fn with byte ranges (no string allocation) for every entry. */
  forEachRaw(fn: (buf: Buffer, ns: number, ne: number, vs: number, ve: number) => void): void {
    if (this.map && this.offs.length === 0) {
      for (const [k, v] of this.map) {
        const b = Buffer.from(`${k}\u0000${v}`, 'utf8');
        const kl = Buffer.byteLength(k, 'utf8');
        fn(b, 0, kl, kl + 1, b.length);
      }
      return;
    }
    const o = this.offs;
    for (let i = 0; i < this.size; i++) fn(this.buf, o[i * 4]!, o[i * 4 + 1]!, o[i * 4 + 2]!, o[i * 4 + 3]!);
  }

  /** True when the entries are kept as bytes (fromMap instances are not). */
  get raw(): boolean {
    return this.offs.length > 0;
  }

  toMap(): Map<string, string> {
    if (!this.map) {
      const m = new Map<string, string>();
      this.forEachRaw((b, ns, ne, vs, ve) => m.set(b.toString('utf8', ns, ne), b.toString('utf8', vs, ve)));
      this.map = m;
    }
    return this.map;
  }

  get(k: string): string | undefined {
    return this.toMap().get(k);
  }

  has(k: string): boolean {
    return this.toMap().has(k);
  }

  keys(): IterableIterator<string> {
    return this.toMap().keys();
  }

  [Symbol.iterator](): Iterator<[string, string]> {
    return this.toMap()[Symbol.iterator]();
  }
}

/** 32-bit FNV-1a over a byte range: the cache's byte-level name index uses the same function. */
export function fnv1a(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
