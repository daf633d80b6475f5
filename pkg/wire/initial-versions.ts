/**
 * initial_resource_versions kept as offsets into the request bytes. A
 * reconnecting ztunnel lists every resource it holds (50k+ entries); turning
 * each into two JS strings and a Map entry dominated reconnect cost. The
 * cache can match entries by bytes (InitialVersions.forEachRaw), and the Map
 * form is built only when something needs it.
 */
export class InitialVersions implements Iterable<[string, string]> {
  private map?: Map<string, string>;
  private sum?: SetDigest;

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

  /**
   * The order-independent digest of every (name, version) pair (see
   * SetDigest): one sequential pass over the request bytes, no lookups.
   */
  digest(): SetDigest {
    if (!this.sum) {
      const d = new SetDigest();
      this.forEachRaw((b, ns, ne, vs, ve) => d.addBytes(b, ns, ne, vs, ve));
      this.sum = d;
    }
    return this.sum;
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

/** fnv1a of a string's UTF-8 bytes, without encoding an ASCII string. */
export function fnv1aString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      const b = Buffer.from(s, 'utf8');
      return fnv1a(b, 0, b.length);
    }
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

/**
 * An order-independent 64-bit digest of a set of (name, version) pairs: two
 * 32-bit lanes, each the sum mod 2^32 of a per-pair hash (FNV-1a-style passes
 * with different bases and multipliers over name, a separator and version,
 * finished with murmur3's fmix32). Sums, not XOR, so a pair listed twice does
 * not cancel out. Why: a reconnect storm after a daemon restart is thousands of
 * ztunnels each listing ~50k names whose versions are all current; equal
 * digests and equal counts let the cache answer "nothing changed" from one
 * sequential pass over the request instead of 50k random lookups. A digest
 * mismatch falls back to the exact per-name match, so the digest only ever
 * shortcuts the all-equal case (a false match needs a 64-bit collision).
 */
export class SetDigest {
  a = 0;
  b = 0;

  /** Adds the pair whose name is buf[ns, ne) and version buf[vs, ve) (a request's bytes). */
  addBytes(buf: Uint8Array, ns: number, ne: number, vs: number, ve: number): void {
    this.mix(1, buf, ns, ne, buf, vs, ve);
  }

  /** Adds (sign 1) or removes (sign -1) one pair; the name may come already encoded (the cache's index has it). */
  addPair(name: string | Uint8Array, version: string, sign: 1 | -1 = 1): void {
    const nb = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
    const vb = Buffer.from(version, 'utf8');
    this.mix(sign, nb, 0, nb.length, vb, 0, vb.length);
  }

  /** Adds (sign 1) or removes (sign -1) the pair whose name is nb[ns, ne) and version vb[vs, ve). */
  addRanges(sign: 1 | -1, nb: Uint8Array, ns: number, ne: number, vb: Uint8Array, vs: number, ve: number): void {
    this.mix(sign, nb, ns, ne, vb, vs, ve);
  }

  private mix(sign: 1 | -1, nb: Uint8Array, ns: number, ne: number, vb: Uint8Array, vs: number, ve: number): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x2545f491;
    for (let i = ns; i < ne; i++) {
      const c = nb[i]!;
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    h1 = Math.imul(h1 ^ 0xff, 0x01000193); // separator: ("ab","c") != ("a","bc")
    h2 = Math.imul(h2 ^ 0xff, 0x5bd1e995);
    for (let i = vs; i < ve; i++) {
      const c = vb[i]!;
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    this.a = (this.a + sign * fmix32(h1)) >>> 0;
    this.b = (this.b + sign * fmix32(h2)) >>> 0;
  }

  equals(o: SetDigest): boolean {
    return this.a === o.a && this.b === o.b;
  }
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
