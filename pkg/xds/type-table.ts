import {
  contentVersion,
  encodeResourceFrame,
  fnv1a,
  fnv1aString,
  frameNameLength,
  frameVersionRange,
  SetDigest,
  type FramePart,
} from '../wire';

/**
 * One cached resource, and its place in its type's table. The frame (the
 * encoded Resource as a DeltaDiscoveryResponse field-2 frame) is the only copy
 * of the name and version: both are read back from the frame's bytes, so the
 * cache holds no string per resource. At 2,000 peers x 100 services a table
 * holds 200k split-horizon workloads whose names are ~115-byte uids; as
 * strings (plus a name-keyed map, a slot object and a version string) they
 * cost ~230 B of heap per resource (heap snapshot, 400 peers).
 *
 * The frame is held as backing store + offset + length rather than as a
 * Buffer (a Buffer is a ~90 B heap object of its own). It may be stored
 * packed (see packFrame): up to two copies of the name inside the resource
 * are left out and put back when the frame is written. An entry is itself a
 * FramePart: writers copy it straight into their output (copy), and `frame`
 * makes the bytes on demand. Resource.name is the frame's last field and is
 * never left out, so the name is always the last `nameLen` stored bytes.
 *
 * `seq`, `stamp` and `next` belong to the one table that holds the entry: an
 * update links a new entry in place of the old one (same hash chain), so an
 * entry object never changes its frame.
 */
export class CacheEntry implements FramePart {
  /** Seq of the commit that linked it; 0 = not in a table yet; -1 = replaced or removed. */
  seq = 0;
  /** Marks the entries one reconnect request has already named (duplicate detection). */
  stamp = 0;
  /** Next entry whose name has the same hash (chained). */
  next: CacheEntry | undefined = undefined;

  constructor(
    private readonly store: ArrayBufferLike,
    private readonly offset: number,
    /** Stored (possibly packed) length. */
    private readonly stored: number,
    /** On-demand lookup keys that resolve to this entry (e.g. "network/ip"). */
    readonly aliases: readonly string[],
    /** Byte length of the name: the stored bytes end with it (and each hole is one copy of it). */
    private readonly nameLen: number,
    /** Packed frames: hole offsets in the frame, first + second * 2^15 (0 = not packed). */
    private readonly holes = 0,
  ) {}

  static of(frame: Uint8Array, aliases: readonly string[]): CacheEntry {
    return new CacheEntry(frame.buffer, frame.byteOffset, frame.length, aliases, frameNameLength(frame));
  }

  /** The frame's length on the wire. */
  get length(): number {
    return this.holes === 0 ? this.stored : this.stored + (this.holes >= HOLE_SPAN ? 2 : 1) * this.nameLen;
  }

  /** Bytes held for it (smaller than `length` when packed). */
  get storedLength(): number {
    return this.stored;
  }

  /** The stored bytes (a view). */
  private bytes(): Buffer {
    return Buffer.from(this.store, this.offset, this.stored);
  }

  /** Writes the frame into target at targetStart; returns its length (Buffer.copy's contract). */
  copy(target: Uint8Array, targetStart: number): number {
    const s = this.bytes();
    if (this.holes === 0) {
      target.set(s, targetStart);
      return s.length;
    }
    const n = this.nameLen;
    const name = s.subarray(s.length - n);
    const h1 = this.holes % HOLE_SPAN;
    const h2 = Math.floor(this.holes / HOLE_SPAN);
    let at = targetStart;
    target.set(s.subarray(0, h1), at);
    target.set(name, (at += h1));
    at += n;
    let from = h1;
    if (h2 > 0) {
      target.set(s.subarray(h1, h2 - n), at);
      target.set(name, (at += h2 - n - h1));
      at += n;
      from = h2 - n;
    }
    target.set(s.subarray(from), at);
    return at + (s.length - from) - targetStart;
  }

  get frame(): Buffer {
    if (this.holes === 0) return this.bytes();
    const out = Buffer.allocUnsafe(this.length);
    this.copy(out, 0);
    return out;
  }

  get name(): string {
    return this.bytes().toString('utf8', this.stored - this.nameLen, this.stored);
  }

  get version(): string {
    const s = this.bytes();
    const [a, b] = frameVersionRange(s);
    return s.toString('utf8', a, b);
  }

  /** Whether the name equals bytes b[start, end). */
  nameIs(b: Uint8Array, start: number, end: number): boolean {
    return this.nameLen === end - start && this.bytes().compare(b, start, end, this.stored - this.nameLen) === 0;
  }

  nameEquals(name: string): boolean {
    return strEqualsBytes(name, this.bytes(), this.stored - this.nameLen, this.stored);
  }

  /** Whether the version equals bytes b[start, end). */
  versionIs(b: Uint8Array, start: number, end: number): boolean {
    const s = this.bytes();
    const [x, y] = frameVersionRange(s);
    return y - x === end - start && s.compare(b, start, end, x, y) === 0;
  }

  /** The stored bytes and where the name and the version sit in them (hashing, digests). */
  key(): [s: Buffer, ns: number, ne: number, vs: number, ve: number] {
    const s = this.bytes();
    const [vs, ve] = frameVersionRange(s);
    return [s, this.stored - this.nameLen, this.stored, vs, ve];
  }

  /**
   * This entry, or (if a table holds it already) a copy that no table holds: an entry is linked into one table only.
   */
  unlinked(): CacheEntry {
    return this.seq === 0
      ? this
      : new CacheEntry(this.store, this.offset, this.stored, this.aliases, this.nameLen, this.holes);
  }

  /**
   * The same entry with its frame copied next to other small frames (Node's
   * buffer pool), packed where that saves bytes: the encoder's temporaries are
   * then not pinned by the frame.
   */
  rehomed(): CacheEntry {
    const f = this.frame;
    const p = packFrame(f);
    if (!p) {
      const copy = Buffer.from(f);
      return new CacheEntry(copy.buffer, copy.byteOffset, copy.length, this.aliases, this.nameLen);
    }
    return new CacheEntry(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length, this.aliases, this.nameLen, p.holes);
  }
}

/** Hole offsets are below 2^15: packFrame leaves larger frames as they are. */
const HOLE_SPAN = 0x8000;
/** Names shorter than this are not worth a hole. */
const MIN_PACKED_NAME = 24;

/**
 * Leaves out up to two copies of the resource name found inside the resource
 * (the frame keeps its last field, Resource.name, so the bytes can be put
 * back). A split-horizon workload carries its uid as Resource.name,
 * Workload.uid and Workload.name (istiod's shape): 342 of its 545 bytes at
 * 2,000 peers, so packing keeps ~230 B less per workload (43 MiB at 200k).
 */
export function packFrame(
  f: Buffer,
  n = frameNameLength(f),
  vEnd = frameVersionRange(f)[1],
): { bytes: Buffer; holes: number } | undefined {
  if (f.length >= HOLE_SPAN) return undefined;
  if (n < MIN_PACKED_NAME) return undefined;
  const ns = f.length - n;
  const name = f.subarray(ns);
  const i1 = f.indexOf(name, vEnd);
  if (i1 < 0 || i1 + n > ns - 1) return undefined;
  let i2 = f.indexOf(name, i1 + n);
  if (i2 + n > ns - 1) i2 = -1; // only the trailing Resource.name itself
  const out = Buffer.allocUnsafe(f.length - (i2 < 0 ? 1 : 2) * n);
  let at = f.copy(out, 0, 0, i1);
  if (i2 < 0) {
    f.copy(out, at, i1 + n);
    return { bytes: out, holes: i1 };
  }
  at += f.copy(out, at, i1 + n, i2);
  f.copy(out, at, i2 + n);
  return { bytes: out, holes: i1 + i2 * HOLE_SPAN };
}

/** Builds a cache entry from a message's encoded bytes; the version is a content hash. */
export function entryFromBytes(
  typeUrl: string,
  name: string,
  bytes: Uint8Array,
  aliases: readonly string[] = [],
): CacheEntry {
  return CacheEntry.of(encodeResourceFrame(name, contentVersion(bytes), typeUrl, bytes), aliases);
}

/**
 * A cache entry holding its own copy of a complete frame (e.g. one in an
 * encoder's reused buffer), packed like rehomed() packs. The caller wrote the
 * frame and passes where its name length and version end are (no re-parse).
 */
export function entryFromFrame(
  frame: Buffer,
  aliases: readonly string[],
  nameLen: number,
  versionEnd: number,
): CacheEntry {
  const p = packFrame(frame, nameLen, versionEnd);
  if (!p) {
    const copy = Buffer.allocUnsafe(frame.length);
    frame.copy(copy, 0);
    return new CacheEntry(copy.buffer, copy.byteOffset, copy.length, aliases, nameLen);
  }
  return new CacheEntry(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length, aliases, nameLen, p.holes);
}

/** Does the ASCII/UTF-8 string s equal bytes b[start, end)? */
export function strEqualsBytes(s: string, b: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (s.length > n) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return Buffer.from(s, 'utf8').equals(b.subarray(start, end));
    if (c !== b[start + i]) return false;
  }
  return s.length === n;
}

/** fnv1a folded into V8's small-integer range, so Map keys stay unboxed. */
const smiHash = (b: Uint8Array, start: number, end: number): number => fnv1a(b, start, end) & 0x3fffffff;

/** smiHash of a string's UTF-8 bytes. */
const smiHashStr = (s: string): number => fnv1aString(s) & 0x3fffffff;

/**
 * One type's resources, indexed by the hash of their name bytes only (no
 * name strings: see CacheEntry). The change log is two parallel arrays; a
 * record refers to the entry it linked (current while that entry is, i.e.
 * until it is replaced or removed) or, for a deletion, to the name.
 */
export class TypeTable {
  /** hash(name bytes) -> entry chain. */
  readonly byHash = new Map<number, CacheEntry>();
  private live = 0;
  /** Deleted names -> seq of the deletion, until every cursor has passed it. */
  readonly tombs = new Map<string, number>();
  matchStamp = 0;
  /** Digest of every (name, version) held: the reconnect fast path (SetDigest). */
  readonly digest = new SetDigest();
  /** The change log as two parallel arrays (seq ascending). */
  logSeq: number[] = [];
  logRef: (CacheEntry | string)[] = [];
  /** Alias -> entries it resolves to. */
  readonly aliasIndex = new Map<string, Set<CacheEntry>>();
  /** Changes older than this have been compacted away (tombstones pruned). */
  floorSeq = 0;

  get size(): number {
    return this.live;
  }

  get(name: string): CacheEntry | undefined {
    for (let e = this.byHash.get(smiHashStr(name)); e; e = e.next) if (e.nameEquals(name)) return e;
    return undefined;
  }

  findBytes(b: Uint8Array, ns: number, ne: number): CacheEntry | undefined {
    for (let e = this.byHash.get(smiHash(b, ns, ne)); e; e = e.next) if (e.nameIs(b, ns, ne)) return e;
    return undefined;
  }

  /** Current log record at index i: the live entry it linked, the deleted name, or undefined (superseded). */
  current(i: number): CacheEntry | string | undefined {
    const ref = this.logRef[i]!;
    const seq = this.logSeq[i]!;
    if (typeof ref !== 'string') return ref.seq === seq ? ref : undefined;
    return this.tombs.get(ref) === seq ? ref : undefined;
  }

  *entries(): IterableIterator<CacheEntry> {
    for (const head of this.byHash.values()) for (let e: CacheEntry | undefined = head; e; e = e.next) yield e;
  }

  upsert(incoming: CacheEntry, seq: number): boolean {
    // An entry object is linked into one table only (its seq/next are that table's).
    const e = incoming.unlinked();
    const [f, ns, ne, vs, ve] = e.key();
    const h = smiHash(f, ns, ne);
    let prev: CacheEntry | undefined;
    let old = this.byHash.get(h);
    for (; old; prev = old, old = old.next) if (old.nameIs(f, ns, ne)) break;
    if (old?.versionIs(f, vs, ve)) return false;
    if (old) {
      this.moveAliases(old, e);
      this.unDigest(old);
      e.next = old.next;
      old.seq = -1;
      old.next = undefined;
    } else {
      if (this.tombs.size > 0) this.tombs.delete(f.toString('utf8', ns, ne)); // resurrected (or new)
      e.next = undefined;
      this.live++;
    }
    e.seq = seq;
    // In place of the old entry, or (a new name) at the end of the chain: prev is its last entry.
    if (prev) prev.next = e;
    else this.byHash.set(h, e);
    this.digest.addRanges(1, f, ns, ne, f, vs, ve);
    if (!old) this.addAliases(e);
    this.logSeq.push(seq);
    this.logRef.push(e);
    return true;
  }

  remove(name: string, seq: number): boolean {
    const h = smiHashStr(name);
    let prev: CacheEntry | undefined;
    let e = this.byHash.get(h);
    for (; e; prev = e, e = e.next) if (e.nameEquals(name)) break;
    if (!e) return false;
    this.dropAliases(e);
    this.unDigest(e);
    if (prev) prev.next = e.next;
    else if (e.next) this.byHash.set(h, e.next);
    else this.byHash.delete(h);
    e.seq = -1;
    e.next = undefined;
    this.live--;
    this.tombs.set(name, seq);
    this.logSeq.push(seq);
    this.logRef.push(name);
    return true;
  }

  private unDigest(e: CacheEntry): void {
    const [s, ns, ne, vs, ve] = e.key();
    this.digest.addRanges(-1, s, ns, ne, s, vs, ve);
  }

  addAliases(e: CacheEntry): void {
    for (const a of e.aliases) {
      let s = this.aliasIndex.get(a);
      if (!s) this.aliasIndex.set(a, (s = new Set()));
      s.add(e);
    }
  }

  /**
   * `next` replaces `prev` under the same name. A changed workload usually keeps its addresses, so when the alias
   * lists are equal each set swaps one member in place: no set emptied, deleted from the index and made again.
   */
  private moveAliases(prev: CacheEntry, next: CacheEntry): void {
    const a = prev.aliases;
    const b = next.aliases;
    let same = a.length === b.length;
    for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
    if (!same) {
      this.dropAliases(prev);
      this.addAliases(next);
      return;
    }
    for (const key of a) {
      const s = this.aliasIndex.get(key);
      if (s) s.delete(prev);
      if (s) s.add(next);
      else this.aliasIndex.set(key, new Set([next]));
    }
  }

  dropAliases(e: CacheEntry): void {
    for (const a of e.aliases) {
      const s = this.aliasIndex.get(a);
      if (!s) continue;
      s.delete(e);
      if (s.size === 0) this.aliasIndex.delete(a);
    }
  }
}
