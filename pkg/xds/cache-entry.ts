import { encodeContentFrame, frameNameLength, frameVersionRange, nameHash, type FramePart } from '../wire';
import type { SetDigest } from '../wire';
import { HOLE_SPAN, holeCount, packAt, packFrame } from './pack-frame';

/** Reads a resource's on-demand lookup keys from its frame (the whole frame, as `CacheEntry.frame` gives it). */
export type AliasReader = (frame: Buffer) => readonly string[];

/** An entry's on-demand lookup keys, or the reader that makes them when they are first asked for. */
export type AliasSource = readonly string[] | AliasReader;

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
 * Buffer (a Buffer is a ~90 B heap object of its own). The store is a
 * DataView over the whole backing store, one shared by every entry written
 * into it (storeView), so comparing two entries' names or versions reads them
 * where they are, four bytes at a time, with no view made per compare. It may be stored
 * packed (see packFrame): up to two copies of the name inside the resource
 * are left out and put back when the frame is written. An entry is itself a
 * FramePart: writers copy it straight into their output (copy), and `frame`
 * makes the bytes on demand. Resource.name is the frame's last field and is
 * never left out, so the name is always the last `nameLen` stored bytes.
 *
 * The version is the content hash putContentVersion writes (entryFromBytes, or a frame a
 * ResourceFrameEncoder wrote): it covers the name, so no two entries of a table share one, which the
 * reconnect digest relies on (SetDigest hashes versions alone).
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
  /**
   * Some alias of it resolves to more than one entry (its table's alias index holds it in a set). Stays set when
   * such a set shrinks again: it only sends a replacement through the slower path (TypeTable.moveAliases).
   */
  sharedAlias = false;

  constructor(
    /** The whole backing store (storeView: offset 0, shared); the stored bytes are [offset, offset + stored). */
    private readonly store: DataView,
    private readonly offset: number,
    /** Stored (possibly packed) length. */
    private readonly stored: number,
    /** Its on-demand lookup keys (`aliases`), or the reader that gives them from the frame when first asked. */
    private aliasSrc: AliasSource,
    /** Byte length of the name: the stored bytes end with it (and each hole is one copy of it). */
    private readonly nameLen: number,
    /**
     * nameHash (pkg/wire) of the name: its table's index key. Written by whoever wrote the name (the frame encoder
     * hashes it while copying it in), so a commit does not hash names (docs/design/serve-one.md, fifth pass).
     */
    readonly nameHash: number,
    /** Packed frames: hole offsets in the frame, first + second * 2^15 (0 = not packed). */
    private readonly holes = 0,
  ) {}

  /**
   * On-demand lookup keys that resolve to this entry (e.g. "network/ip"), read by its AliasReader on first use and
   * kept. Tables ask once a client made an on-demand request of their type (TypeTable.aliasTargets).
   */
  get aliases(): readonly string[] {
    const a = this.aliasSrc;
    if (typeof a !== 'function') return a;
    const made = a(this.frame);
    this.aliasSrc = made;
    return made;
  }

  static of(frame: Uint8Array, aliases: AliasSource): CacheEntry {
    const n = frameNameLength(frame);
    const hash = nameHash(frame, frame.length - n, frame.length);
    return new CacheEntry(storeView(frame.buffer), frame.byteOffset, frame.length, aliases, n, hash);
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
    return Buffer.from(this.store.buffer, this.offset, this.stored);
  }

  /**
   * Writes the frame into target at targetStart; returns its length (Buffer.copy's contract). Each piece is a plain
   * Uint8Array view (compiled inline), not a Buffer: Buffer.from's checks and Buffer#subarray were a quarter of
   * serving one change through writeFramed (docs/design/serve-one.md, fifth pass).
   */
  copy(target: Uint8Array, targetStart: number): number {
    const buf = this.store.buffer;
    const o = this.offset;
    const len = this.stored;
    if (this.holes === 0) {
      target.set(new Uint8Array(buf, o, len), targetStart);
      return len;
    }
    const n = this.nameLen;
    const name = new Uint8Array(buf, o + len - n, n);
    const h1 = this.holes % HOLE_SPAN;
    const h2 = Math.floor(this.holes / HOLE_SPAN);
    let at = targetStart;
    target.set(new Uint8Array(buf, o, h1), at);
    target.set(name, (at += h1));
    at += n;
    let from = h1;
    if (h2 > 0) {
      target.set(new Uint8Array(buf, o + h1, h2 - n - h1), at);
      target.set(name, (at += h2 - n - h1));
      at += n;
      from = h2 - n;
    }
    target.set(new Uint8Array(buf, o + from, len - from), at);
    return at + (len - from) - targetStart;
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

  /**
   * Adds (sign 1) or removes (sign -1) this entry's version to a set digest (TableDigest), read where the store holds
   * it: a version covers its name, so the digest reads no name (SetDigest).
   */
  digestVersion(d: SetDigest, sign: 1 | -1): void {
    const s = this.store;
    let i = this.versionLengthAt();
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const c = s.getUint8(i++);
      len += (c & 0x7f) * 2 ** shift;
      if (c < 0x80) break;
    }
    d.addView(s, i, i + len, sign);
  }

  /**
   * Whether o's name is this one's, compared in the two stores four bytes at a time (a byte loop over two views made
   * per compare was over a tenth of serving one change, docs/design/serve-one.md).
   */
  sameName(o: CacheEntry): boolean {
    const n = this.nameLen;
    if (o.nameLen !== n) return false;
    const end = this.offset + this.stored;
    return rangeEquals(this.store, end - n, o.store, o.offset + o.stored - n, n);
  }

  /** Whether o carries this one's version: the version's length varint and bytes compared as one range. */
  sameVersion(o: CacheEntry): boolean {
    const a = this.store;
    const b = o.store;
    let i = this.versionLengthAt();
    let j = o.versionLengthAt();
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const c = a.getUint8(i++);
      if (c !== b.getUint8(j++)) return false;
      len += (c & 0x7f) * 2 ** shift;
      if (c < 0x80) break;
    }
    return rangeEquals(a, i, b, j, len);
  }

  /** Where the version's length starts in the store (past the frame's tag and length, Resource.version's tag). */
  private versionLengthAt(): number {
    const s = this.store;
    let at = this.offset + 1;
    while (s.getUint8(at++) >= 0x80);
    return at + 1;
  }

  /**
   * This entry, or (if a table holds it already) a copy that no table holds: an entry is linked into one table only.
   */
  unlinked(): CacheEntry {
    return this.seq === 0
      ? this
      : new CacheEntry(this.store, this.offset, this.stored, this.aliasSrc, this.nameLen, this.nameHash, this.holes);
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
      const c = Buffer.from(f);
      return new CacheEntry(storeView(c.buffer), c.byteOffset, c.length, this.aliasSrc, this.nameLen, this.nameHash);
    }
    const b = p.bytes;
    const s = storeView(b.buffer);
    return new CacheEntry(s, b.byteOffset, b.length, this.aliasSrc, this.nameLen, this.nameHash, p.holes);
  }
}

/** Builds a cache entry from a message's encoded bytes; the version is its content hash (covering the name). */
export function entryFromBytes(
  typeUrl: string,
  name: string,
  bytes: Uint8Array,
  aliases: AliasSource = [],
): CacheEntry {
  return CacheEntry.of(encodeContentFrame(name, typeUrl, bytes), aliases);
}

/**
 * A cache entry holding its own copy of a complete frame (e.g. one in an
 * encoder's reused buffer; its version a content hash, as ResourceFrameEncoder
 * writes it), packed like rehomed() packs. The caller wrote the
 * frame and passes where its name length and version end are (no re-parse),
 * and where it wrote copies of the name (hole1 < hole2, -1 = none; no search);
 * without hole1 the frame is searched as packFrame does.
 */
export function entryFromFrame(
  frame: Buffer,
  aliases: AliasSource,
  nameLen: number,
  versionEnd: number,
  hole1?: number,
  hole2 = -1,
): CacheEntry {
  const p = hole1 === undefined ? packFrame(frame, nameLen, versionEnd) : packAt(frame, nameLen, hole1, hole2);
  const hash = nameHash(frame, frame.length - nameLen, frame.length);
  if (!p) {
    const copy = Buffer.allocUnsafe(frame.length);
    frame.copy(copy, 0);
    return new CacheEntry(storeView(copy.buffer), copy.byteOffset, copy.length, aliases, nameLen, hash);
  }
  const b = p.bytes;
  return new CacheEntry(storeView(b.buffer), b.byteOffset, b.length, aliases, nameLen, hash, p.holes);
}

/**
 * A cache entry over b[start, end), a frame its writer (a ResourceFrameEncoder:
 * the version is a content hash) gives up (it never writes those bytes again):
 * packed in place where packFrame's rules allow, with the name's copies at
 * frame offsets h1 < h2 (-1 = none) as the writer marked them. The stored
 * bytes keep ending at `end`: the entry's storedLength says where they start. `hash` is the name's nameHash (the
 * writer's, ResourceFrameEncoder.nameHash).
 */
export function entryInPlace(
  b: Buffer,
  start: number,
  end: number,
  aliases: AliasSource,
  nameLen: number,
  h1: number,
  h2: number,
  hash: number,
): CacheEntry {
  const n = nameLen;
  const k = holeCount(end - start, n, h1, h2);
  const s = storeView(b.buffer);
  if (k === 0) return new CacheEntry(s, b.byteOffset + start, end - start, aliases, n, hash);
  // Close the holes by moving what precedes them up (copyWithin is a memmove): the tail after the last stays.
  if (k === 2) b.copyWithin(start + h1 + 2 * n, start + h1 + n, start + h2);
  b.copyWithin(start + k * n, start, start + h1);
  const ps = start + k * n;
  return new CacheEntry(s, b.byteOffset + ps, end - ps, aliases, n, hash, k === 1 ? h1 : h1 + h2 * HOLE_SPAN);
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

/** The last store storeView made a view of, and that view. */
let lastStore: ArrayBufferLike | undefined;
let lastView: DataView = new DataView(new ArrayBuffer(0));

/**
 * A DataView over the whole of `store`, the same one for consecutive calls with the same store: entries are made in
 * runs over one backing store (an EntrySlab's slab, Node's buffer pool while rehomed() copies), so such a run shares
 * one view, and an entry costs no more than the ArrayBuffer reference it held before.
 */
function storeView(store: ArrayBufferLike): DataView {
  if (store !== lastStore) {
    lastStore = store;
    lastView = new DataView(store);
  }
  return lastView;
}

/**
 * Whether a[as, as + n) equals b[bs, bs + n): four bytes per read (DataView reads are compiled inline; names are
 * tens of bytes, where this is ~3x a byte loop and Buffer.compare's call into C++ costs more than either).
 */
function rangeEquals(a: DataView, as: number, b: DataView, bs: number, n: number): boolean {
  let i = as;
  let j = bs;
  const end = as + n;
  for (const end4 = end - 3; i < end4; i += 4, j += 4) if (a.getInt32(i) !== b.getInt32(j)) return false;
  for (; i < end; i++, j++) if (a.getUint8(i) !== b.getUint8(j)) return false;
  return true;
}
