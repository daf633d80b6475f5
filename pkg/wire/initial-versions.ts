import { SetDigest, viewOf } from './set-digest';

/**
 * initial_resource_versions kept as offsets into the request bytes. A
 * reconnecting ztunnel lists every resource it holds (50k+ entries); turning
 * each into two JS strings and a Map entry dominated reconnect cost. The
 * cache can match entries by bytes (InitialVersions.forEachRaw), and the Map
 * form is built only when something needs it. When the entries are one run
 * in their common encoding (what a reconnect sends), not even the offsets are
 * kept: the decoder's digest answers the usual storm, and the offsets are
 * found again by walking the run only if an exact match needs them.
 */
export class InitialVersions implements Iterable<[string, string]> {
  private map?: Map<string, string>;
  private sum?: SetDigest;
  /** undefined while only the run [runStart, runEnd) is known (see ofRun). */
  private offs?: Uint32Array;
  private runStart = 0;
  private runEnd = 0;
  private bytes: boolean;

  /**
   * offs holds 4 numbers per entry: nameStart, nameEnd, versionStart, versionEnd. sum, when given, is
   * the SetDigest of exactly those entries (the decoder computes it while it walks them).
   */
  constructor(
    readonly buf: Buffer,
    offs: Uint32Array,
    readonly size: number,
    sum?: SetDigest,
  ) {
    this.offs = offs;
    this.sum = sum;
    this.bytes = offs.length > 0;
  }

  /**
   * The size entries that buf[start, end) holds as one run in the common encoding
   * (InitialVersionsCollector.scanRun reads all of it), and their digest.
   */
  static ofRun(buf: Buffer, start: number, end: number, size: number, sum: SetDigest): InitialVersions {
    const iv = new InitialVersions(buf, NO_OFFSETS, size, sum);
    iv.bytes = true;
    iv.offs = undefined;
    iv.runStart = start;
    iv.runEnd = end;
    return iv;
  }

  private offsets(): Uint32Array {
    this.offs ??= InitialVersionsCollector.offsetsOfRun(this.buf, this.runStart, this.runEnd);
    return this.offs;
  }

  static fromMap(m: Map<string, string>): InitialVersions {
    const iv = new InitialVersions(Buffer.alloc(0), new Uint32Array(0), m.size);
    iv.map = m;
    return iv;
  }

  /** Calls fn with byte ranges (no string allocation) for every entry. */
  forEachRaw(fn: (buf: Buffer, ns: number, ne: number, vs: number, ve: number) => void): void {
    if (!this.bytes) {
      for (const [k, v] of this.map ?? []) {
        const b = Buffer.from(`${k}\u0000${v}`, 'utf8');
        const kl = Buffer.byteLength(k, 'utf8');
        fn(b, 0, kl, kl + 1, b.length);
      }
      return;
    }
    const o = this.offsets();
    for (let i = 0; i < this.size; i++) fn(this.buf, o[i * 4]!, o[i * 4 + 1]!, o[i * 4 + 2]!, o[i * 4 + 3]!);
  }

  /**
   * The order-independent digest of every version listed (see SetDigest: a
   * version covers its name): one sequential pass over the request bytes, no lookups.
   */
  digest(): SetDigest {
    if (!this.sum) {
      const d = new SetDigest();
      if (this.raw) {
        const v = viewOf(this.buf);
        const o = this.offsets();
        for (let i = 0; i < 4 * this.size; i += 4) d.addView(v, o[i + 2]!, o[i + 3]!);
      } else this.forEachRaw((b, _ns, _ne, vs, ve) => d.addBytes(1, b, vs, ve));
      this.sum = d;
    }
    return this.sum;
  }

  /** True when the entries are kept as bytes (fromMap instances are not). */
  get raw(): boolean {
    return this.bytes;
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

/** Offsets of the entries being collected, shared by every collector (see InitialVersionsCollector). */
let scratch = new Uint32Array(4096);
const NO_OFFSETS = new Uint32Array(0);
/** A scratch grown past this many numbers (64k entries, 1 MiB) is not kept for the next request. */
const SCRATCH_KEEP = 4 * 65_536;

/**
 * Collects a request's initial_resource_versions while the decoder walks them: the entries' byte
 * offsets and their SetDigest in the same pass (a second digest pass re-read ~1 MB per reconnect).
 * Offsets go to one scratch array shared by all collectors; finish() copies them out exactly sized,
 * or, when the entries are one run in the common encoding, keeps only where the run is (a 1 MB
 * reconnect then allocates nothing per entry). The sharing
 * is safe because a collector lives inside one synchronous decode call: created, fed and finished
 * with nothing else running in between (an abandoned one, after a malformed request, holds nothing).
 */
export class InitialVersionsCollector {
  /** Numbers written to the scratch (4 per entry). */
  private n = 0;
  private readonly sum = new SetDigest();
  private view?: DataView;
  private digesting = true;
  /** The entries so far are exactly the run b[runStart, runEnd) (runEnd < 0: no run yet). */
  private runStart = -1;
  private runEnd = -1;
  private oneRun = true;

  /** Collects entries of the request b. */
  constructor(private readonly b: Buffer) {}

  get size(): number {
    return this.n / 4;
  }

  /** The offsets of the run b[start, end) (see InitialVersions.ofRun): a walk without the digest. */
  static offsetsOfRun(b: Buffer, start: number, end: number): Uint32Array {
    const c = new InitialVersionsCollector(b);
    c.digesting = false;
    if (c.scanRun(start, end) !== end) throw new Error('initial_resource_versions run changed after decoding');
    return c.copyOffsets();
  }

  /** Adds the entry whose key is b[ks, ke) and value b[vs, ve), decoded the general way. */
  add(ks: number, ke: number, vs: number, ve: number): void {
    this.oneRun = false;
    this.push(ks, ke, vs, ve);
  }

  private push(ks: number, ke: number, vs: number, ve: number): void {
    let o = scratch;
    if (this.n + 4 > o.length) {
      const grown = new Uint32Array(o.length * 2);
      grown.set(o);
      scratch = o = grown;
    }
    const n = this.n;
    o[n] = ks;
    o[n + 1] = ke;
    o[n + 2] = vs;
    o[n + 3] = ve;
    this.n = n + 4;
    if (!this.digesting) return;
    this.sum.addView((this.view ??= viewOf(this.b)), vs, ve);
  }

  /**
   * Reads the run of map entries (DeltaDiscoveryRequest field 5) that starts at byte p, as long as they
   * have the common encoding: tag 0x2a, the entry's length, then key (0x0a) and value (0x12), each
   * length a varint of one or two bytes, nothing else in the entry. Returns where the run stops: the
   * end, or the first byte that is not such an entry, which the caller decodes the general way (and
   * rejects if malformed). Nothing is read at or past `end`.
   */
  scanRun(p0: number, end: number): number {
    const b = this.b;
    const n0 = this.n;
    let p = p0;
    for (;;) {
      if (p >= end || b[p] !== 0x2a) break;
      const l = varint2(b, p + 1, end);
      if (l < 0) break;
      const s = p + 1 + (l & 3);
      const e = s + (l >>> 2);
      if (e > end || s >= e || b[s] !== 0x0a) break;
      const k = varint2(b, s + 1, e);
      if (k < 0) break;
      const ks = s + 1 + (k & 3);
      const ke = ks + (k >>> 2);
      if (ke >= e || b[ke] !== 0x12) break;
      const v = varint2(b, ke + 1, e);
      if (v < 0) break;
      const vs = ke + 1 + (v & 3);
      if (vs + (v >>> 2) !== e) break;
      this.push(ks, ke, vs, e);
      p = e;
    }
    if (p > p0) {
      if (n0 === 0) this.runStart = p0;
      else if (p0 !== this.runEnd) this.oneRun = false;
      this.runEnd = p;
    }
    return p;
  }

  /** The collected entries: as their run alone when they are one, else with their offsets. */
  finish(): InitialVersions {
    if (this.oneRun && this.runEnd >= 0) {
      return InitialVersions.ofRun(this.b, this.runStart, this.runEnd, this.n / 4, this.sum);
    }
    return new InitialVersions(this.b, this.copyOffsets(), this.n / 4, this.sum);
  }

  /** The offsets, copied out of the scratch exactly sized. */
  private copyOffsets(): Uint32Array {
    const offs = scratch.slice(0, this.n);
    if (scratch.length > SCRATCH_KEEP) scratch = new Uint32Array(4096);
    return offs;
  }
}

/**
 * A varint of one or two bytes at b[p] (p < end): (value << 2) | its byte count, or -1 when it is
 * longer or runs to `end`.
 */
function varint2(b: Buffer, p: number, end: number): number {
  if (p >= end) return -1;
  const c0 = b[p]!;
  if (c0 < 0x80) return (c0 << 2) | 1;
  if (p + 1 >= end) return -1;
  const c1 = b[p + 1]!;
  if (c1 >= 0x80) return -1;
  return (((c0 & 0x7f) | (c1 << 7)) << 2) | 2;
}
