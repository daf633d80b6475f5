import { contentVersion, encodeResourceFrame, fnv1a, SetDigest } from '../wire';

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
 * Buffer (a Buffer is a ~90 B heap object of its own); `frame` makes a view
 * on each read, the bytes are shared, never copied.
 *
 * `seq`, `stamp` and `next` belong to the one table that holds the entry: an
 * update links a new entry in place of the old one (same hash chain), so an
 * entry object never changes its frame.
 */
export class CacheEntry {
  /** Seq of the commit that linked it; 0 = not in a table yet; -1 = replaced or removed. */
  seq = 0;
  /** Marks the entries one reconnect request has already named (duplicate detection). */
  stamp = 0;
  /** Next entry whose name has the same hash (chained). */
  next: CacheEntry | undefined = undefined;

  constructor(
    private readonly store: ArrayBufferLike,
    private readonly offset: number,
    readonly frameLength: number,
    /** On-demand lookup keys that resolve to this entry (e.g. "network/ip"). */
    readonly aliases: readonly string[],
  ) {}

  static of(frame: Uint8Array, aliases: readonly string[]): CacheEntry {
    return new CacheEntry(frame.buffer, frame.byteOffset, frame.length, aliases);
  }

  get frame(): Buffer {
    return Buffer.from(this.store, this.offset, this.frameLength);
  }

  get name(): string {
    const f = this.frame;
    const [s, e] = nameRange(f);
    return f.toString('utf8', s, e);
  }

  get version(): string {
    const f = this.frame;
    const [s, e] = versionRange(f);
    return f.toString('utf8', s, e);
  }

  /** Whether the name equals bytes b[start, end). */
  nameIs(b: Uint8Array, start: number, end: number): boolean {
    const f = this.frame;
    const [s, e] = nameRange(f);
    return e - s === end - start && f.compare(b, start, end, s, e) === 0;
  }

  /** Whether the version equals bytes b[start, end). */
  versionIs(b: Uint8Array, start: number, end: number): boolean {
    const f = this.frame;
    const [s, e] = versionRange(f);
    return e - s === end - start && f.compare(b, start, end, s, e) === 0;
  }

  sameVersion(o: CacheEntry): boolean {
    const f = o.frame;
    const [s, e] = versionRange(f);
    return this.versionIs(f, s, e);
  }

  /**
   * The same entry with its frame copied next to other small frames (Node's
   * buffer pool): the encoder's temporaries are then not pinned by the frame.
   */
  rehomed(): CacheEntry {
    return CacheEntry.of(Buffer.from(this.frame), this.aliases);
  }
}

function readVarint(b: Uint8Array, at: number): [number, number] {
  let n = 0;
  let shift = 0;
  for (;;) {
    const c = b[at++]!;
    n += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) return [n, at];
    shift += 7;
  }
}

/**
 * Where the version bytes sit in a frame from encodeResourceFrame: the
 * frame's tag and length, then Resource.version (field 1) first.
 */
function versionRange(f: Uint8Array): [number, number] {
  const [, body] = readVarint(f, 1);
  const [len, at] = readVarint(f, body + 1);
  return [at, at + len];
}

/** Resource.name (field 3) is the frame's last field: after version (1) and resource (2). */
function nameRange(f: Uint8Array): [number, number] {
  const [, vEnd] = versionRange(f);
  const [anyLen, anyStart] = readVarint(f, vEnd + 1);
  const [nameLen, nameStart] = readVarint(f, anyStart + anyLen + 1);
  return [nameStart, nameStart + nameLen];
}

/** Builds a cache entry from a message's encoded bytes; the version is a content hash. */
export function entryFromBytes(typeUrl: string, name: string, bytes: Uint8Array, aliases: readonly string[] = []): CacheEntry {
  return CacheEntry.of(encodeResourceFrame(name, contentVersion(bytes), typeUrl, bytes), aliases);
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

/** smiHash of a string's UTF-8 bytes, without encoding an ASCII string. */
function smiHashStr(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      const b = Buffer.from(s, 'utf8');
      return smiHash(b, 0, b.length);
    }
    h = Math.imul(h ^ c, 0x01000193);
  }
  return (h >>> 0) & 0x3fffffff;
}

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

  /** Seq of the last change to `name` (live or deleted), if still tracked. */
  lastSeq(name: string): number | undefined {
    return this.get(name)?.seq ?? this.tombs.get(name);
  }

  get(name: string): CacheEntry | undefined {
    for (let e = this.byHash.get(smiHashStr(name)); e; e = e.next) {
      const f = e.frame;
      const [s, end] = nameRange(f);
      if (strEqualsBytes(name, f, s, end)) return e;
    }
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
    const e = incoming.seq === 0 ? incoming : CacheEntry.of(incoming.frame, incoming.aliases);
    const f = e.frame;
    const [ns, ne] = nameRange(f);
    const [vs, ve] = versionRange(f);
    const h = smiHash(f, ns, ne);
    let prev: CacheEntry | undefined;
    let old = this.byHash.get(h);
    for (; old; prev = old, old = old.next) if (old.nameIs(f, ns, ne)) break;
    if (old?.versionIs(f, vs, ve)) return false;
    if (old) {
      this.dropAliases(old);
      const of = old.frame;
      const [ons, one] = nameRange(of);
      const [ovs, ove] = versionRange(of);
      this.digest.addRanges(-1, of, ons, one, of, ovs, ove);
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
    this.addAliases(e);
    this.logSeq.push(seq);
    this.logRef.push(e);
    return true;
  }

  remove(name: string, seq: number): boolean {
    const h = smiHashStr(name);
    let prev: CacheEntry | undefined;
    let e = this.byHash.get(h);
    for (; e; prev = e, e = e.next) {
      const f = e.frame;
      const [s, end] = nameRange(f);
      if (strEqualsBytes(name, f, s, end)) break;
    }
    if (!e) return false;
    this.dropAliases(e);
    const f = e.frame;
    const [ns, ne] = nameRange(f);
    const [vs, ve] = versionRange(f);
    this.digest.addRanges(-1, f, ns, ne, f, vs, ve);
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

  addAliases(e: CacheEntry): void {
    for (const a of e.aliases) {
      let s = this.aliasIndex.get(a);
      if (!s) this.aliasIndex.set(a, (s = new Set()));
      s.add(e);
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
