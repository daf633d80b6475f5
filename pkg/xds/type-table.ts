import { contentVersion, encodeResourceFrame, fnv1a, SetDigest } from '../wire';

/**
 * One cached resource. Its frame (the encoded Resource as a
 * DeltaDiscoveryResponse field-2 frame) is held as backing store + offset +
 * length rather than as a Buffer: a Buffer is a ~90 B heap object of its own,
 * 18 MiB at 200k entries (heap snapshot, 400 peers). `frame` makes a view on
 * each read; the bytes are shared, never copied.
 */
export class CacheEntry {
  constructor(
    readonly name: string,
    readonly version: string,
    private readonly store: ArrayBufferLike,
    private readonly offset: number,
    readonly frameLength: number,
    /** On-demand lookup keys that resolve to this entry (e.g. "network/ip"). */
    readonly aliases: readonly string[],
  ) {}

  static of(name: string, version: string, frame: Uint8Array, aliases: readonly string[]): CacheEntry {
    return new CacheEntry(name, version, frame.buffer, frame.byteOffset, frame.length, aliases);
  }

  get frame(): Buffer {
    return Buffer.from(this.store, this.offset, this.frameLength);
  }

  /**
   * The same entry with its frame copied next to other small frames (Node's
   * buffer pool): the encoder's temporaries are then not pinned by the frame.
   */
  rehomed(): CacheEntry {
    return CacheEntry.of(this.name, this.version, Buffer.from(this.frame), this.aliases);
  }
}

/** Builds a cache entry from a message's encoded bytes; the version is a content hash. */
export function entryFromBytes(typeUrl: string, name: string, bytes: Uint8Array, aliases: readonly string[] = []): CacheEntry {
  const version = contentVersion(bytes);
  return CacheEntry.of(name, version, encodeResourceFrame(name, version, typeUrl, bytes), aliases);
}

/** Does the ASCII/UTF-8 string s equal bytes b[start, end)? */
export function strEqualsBytes(s: string, b: Buffer, start: number, end: number): boolean {
  const n = end - start;
  if (s.length > n) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return Buffer.from(s, 'utf8').equals(b.subarray(start, end));
    if (c !== b[start + i]) return false;
  }
  return s.length === n;
}

/**
 * A cache entry in the byte-level name index. `stamp` marks the entries one
 * reconnect request has already named (duplicate detection) without a side
 * table: a WeakMap here cost more than the rest of the match (ephemeron work in
 * every GC, ~100 ns per lookup) at 50k entries x 1,000 reconnects.
 */
export interface Slot {
  /** The current entry: an update replaces it in place (same name, same hash chain). */
  e: CacheEntry;
  /** Seq of the name's last change. */
  seq: number;
  stamp: number;
  /** Next slot with the same hash (chained). */
  next: Slot | undefined;
}

/** fnv1a folded into V8's small-integer range, so Map keys stay unboxed. */
const smiHash = (b: Uint8Array, start: number, end: number): number => fnv1a(b, start, end) & 0x3fffffff;

/**
 * One type's resources. Memory matters here: at 2,000 peers a table holds
 * 200k entries, so each name costs one slot (entry, last-change seq, match
 * stamp, hash chain) in two maps and two log arrays — no separate seq map, no
 * object per log record (heap snapshot: ~70 B per name less than that layout).
 */
export class TypeTable {
  /** Live names -> slot. */
  readonly entries = new Map<string, Slot>();
  /** hash(name bytes) -> slot chain: matches reconnect requests without making strings. */
  readonly byHash = new Map<number, Slot>();
  /** Deleted names -> seq of the deletion, until every cursor has passed it. */
  readonly tombs = new Map<string, number>();
  matchStamp = 0;
  /** Digest of every (name, version) held: the reconnect fast path (SetDigest). */
  readonly digest = new SetDigest();
  /** The change log as two parallel arrays (seq ascending). */
  logSeq: number[] = [];
  logName: string[] = [];
  readonly aliasIndex = new Map<string, Set<string>>();
  /** Changes older than this have been compacted away (tombstones pruned). */
  floorSeq = 0;

  /** Seq of the last change to `name` (live or deleted), if still tracked. */
  lastSeq(name: string): number | undefined {
    return this.entries.get(name)?.seq ?? this.tombs.get(name);
  }

  upsert(e: CacheEntry, seq: number): boolean {
    const slot = this.entries.get(e.name);
    if (slot?.e.version === e.version) return false;
    // The name's bytes once per change: the digest (and, for a new name, the index) hash them.
    const nb = Buffer.from(e.name, 'utf8');
    if (slot) {
      this.dropAliases(slot.e);
      this.digest.addPair(nb, slot.e.version, -1);
      slot.e = e;
      slot.seq = seq;
    } else {
      this.tombs.delete(e.name); // resurrected (or new)
      const h = smiHash(nb, 0, nb.length);
      const fresh: Slot = { e, seq, stamp: 0, next: this.byHash.get(h) };
      this.byHash.set(h, fresh);
      this.entries.set(e.name, fresh);
    }
    this.digest.addPair(nb, e.version, 1);
    this.addAliases(e);
    this.logSeq.push(seq);
    this.logName.push(e.name);
    return true;
  }

  remove(name: string, seq: number): boolean {
    const slot = this.entries.get(name);
    if (!slot) return false;
    this.dropAliases(slot.e);
    const nb = Buffer.from(name, 'utf8');
    this.digest.addPair(nb, slot.e.version, -1);
    const h = smiHash(nb, 0, nb.length);
    let prev: Slot | undefined;
    for (let s = this.byHash.get(h); s; prev = s, s = s.next) {
      if (s !== slot) continue;
      if (prev) prev.next = s.next;
      else if (s.next) this.byHash.set(h, s.next);
      else this.byHash.delete(h);
      break;
    }
    this.entries.delete(name);
    this.tombs.set(name, seq);
    this.logSeq.push(seq);
    this.logName.push(name);
    return true;
  }

  findSlot(b: Buffer, ns: number, ne: number): Slot | undefined {
    for (let s = this.byHash.get(smiHash(b, ns, ne)); s; s = s.next) if (strEqualsBytes(s.e.name, b, ns, ne)) return s;
    return undefined;
  }

  addAliases(e: CacheEntry): void {
    for (const a of e.aliases) {
      let s = this.aliasIndex.get(a);
      if (!s) this.aliasIndex.set(a, (s = new Set()));
      s.add(e.name);
    }
  }

  dropAliases(e: CacheEntry): void {
    for (const a of e.aliases) {
      const s = this.aliasIndex.get(a);
      if (!s) continue;
      s.delete(e.name);
      if (s.size === 0) this.aliasIndex.delete(a);
    }
  }
}

