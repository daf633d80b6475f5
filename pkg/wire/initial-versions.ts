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
   * The order-independent digest of every (name, version) pair (see
   * SetDigest): one sequential pass over the request bytes, no lookups.
   */
  digest(): SetDigest {
    if (!this.sum) {
      const d = new SetDigest();
      if (this.raw) {
        const v = viewOf(this.buf);
        const o = this.offsets();
        for (let i = 0; i < 4 * this.size; i += 4) d.addView(1, v, o[i]!, o[i + 1]!, v, o[i + 2]!, o[i + 3]!);
      } else this.forEachRaw((b, ns, ne, vs, ve) => d.addBytes(b, ns, ne, vs, ve));
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
    const v = (this.view ??= viewOf(this.b));
    this.sum.addView(1, v, ks, ke, v, vs, ve);
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
 * 32-bit lanes, each the sum mod 2^32 of a per-pair hash (two different
 * word-at-a-time mixing steps over name, its length, version and its length,
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
    this.mixBytes(1, buf, ns, ne, buf, vs, ve);
  }

  /** Adds (sign 1) or removes (sign -1) one pair; the name may come already encoded (the cache's index has it). */
  addPair(name: string | Uint8Array, version: string, sign: 1 | -1 = 1): void {
    const nb = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
    const vb = Buffer.from(version, 'utf8');
    this.mixBytes(sign, nb, 0, nb.length, vb, 0, vb.length);
  }

  /** Adds (sign 1) or removes (sign -1) the pair whose name is nb[ns, ne) and version vb[vs, ve). */
  addRanges(sign: 1 | -1, nb: Uint8Array, ns: number, ne: number, vb: Uint8Array, vs: number, ve: number): void {
    this.mixBytes(sign, nb, ns, ne, vb, vs, ve);
  }

  /**
   * addView's function with byte loads: no DataView to allocate for one pair (the cache adds and
   * removes pairs one at a time). The decoder's digest is checked equal to this one in the tests.
   */
  private mixBytes(sign: 1 | -1, nb: Uint8Array, ns: number, ne: number, vb: Uint8Array, vs: number, ve: number): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x2545f491;
    let i = ns;
    for (; i + 4 <= ne; i += 4) {
      const w = nb[i]! | (nb[i + 1]! << 8) | (nb[i + 2]! << 16) | (nb[i + 3]! << 24);
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
    }
    let t = 0;
    for (let s = 0; i < ne; i++, s += 8) t |= nb[i]! << s;
    h1 = lane1(lane1(h1, t), ne - ns);
    h2 = lane2(lane2(h2, t), ne - ns);
    i = vs;
    for (; i + 4 <= ve; i += 4) {
      const w = vb[i]! | (vb[i + 1]! << 8) | (vb[i + 2]! << 16) | (vb[i + 3]! << 24);
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
    }
    t = 0;
    for (let s = 0; i < ve; i++, s += 8) t |= vb[i]! << s;
    h1 = lane1(lane1(h1, t), ve - vs);
    h2 = lane2(lane2(h2, t), ve - vs);
    this.a = (this.a + sign * fmix32(h1)) >>> 0;
    this.b = (this.b + sign * fmix32(h2)) >>> 0;
  }

  /**
   * Adds (sign 1) or removes (sign -1) the pair whose name is bytes [ns, ne) of nv and version bytes
   * [vs, ve) of vv. Words are read through a DataView: one little-endian load per four bytes costs
   * about half of four byte loads from a Uint8Array (measured on 1 MB of 96-byte entries).
   */
  addView(sign: 1 | -1, nv: DataView, ns: number, ne: number, vv: DataView, vs: number, ve: number): void {
    // Four bytes per step, then the 0-3 tail bytes and the length of the part, for the name and then
    // the version; the length keeps ("ab","c") != ("a","bc") and "ab" != "ab\0".
    let h1 = 0x811c9dc5;
    let h2 = 0x2545f491;
    let i = ns;
    for (; i + 4 <= ne; i += 4) {
      const w = nv.getInt32(i, true);
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
    }
    let t = 0;
    for (let s = 0; i < ne; i++, s += 8) t |= nv.getUint8(i) << s;
    h1 = lane1(lane1(h1, t), ne - ns);
    h2 = lane2(lane2(h2, t), ne - ns);
    i = vs;
    for (; i + 4 <= ve; i += 4) {
      const w = vv.getInt32(i, true);
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
    }
    t = 0;
    for (let s = 0; i < ve; i++, s += 8) t |= vv.getUint8(i) << s;
    h1 = lane1(lane1(h1, t), ve - vs);
    h2 = lane2(lane2(h2, t), ve - vs);
    this.a = (this.a + sign * fmix32(h1)) >>> 0;
    this.b = (this.b + sign * fmix32(h2)) >>> 0;
  }

  equals(o: SetDigest): boolean {
    return this.a === o.a && this.b === o.b;
  }
}

/** One step of murmur3_32's body (Appleby's MurmurHash3, public domain): mixes the 32-bit word w into h. */
function lane1(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The second lane: a multiply-xorshift step with murmur2's constant, independent of lane1. */
function lane2(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x5bd1e995);
  return h ^ (h >>> 15);
}

/** A DataView over exactly the bytes of b (offsets into b are offsets into the view). */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
