import type { InitialVersions } from '../wire';
import type { CacheEntry } from './cache-entry';
import { TypeTable } from './type-table';

export { entryFromBytes, entryFromFrame, entryInPlace } from './cache-entry';
export type { AliasReader, AliasSource, CacheEntry } from './cache-entry';

export interface TypeCommit {
  readonly typeUrl: string;
  readonly upserts?: readonly CacheEntry[];
  readonly removes?: readonly string[];
}

export interface Cursor {
  seq: number;
  expired: boolean;
}

/** When a commit happened, and (for federated data) when the change happened at its origin. */
export interface CommitMeta {
  /** Monotonic ms of the commit. */
  at: number;
  /** Wall-clock ms at which the change happened at the originating daemon, if known. */
  originAt?: number;
}

/** Told the new seq after each commit that changed something (streams then read what changed since theirs). */
export type CacheListener = (seq: number) => void;

/** Result of matching a client's initial_resource_versions against the cache. */
export interface InitialMatch {
  /** Held entries that still exist (same or different version). */
  current: number;
  /** Held entries whose version differs: resend. */
  changed: CacheEntry[];
  /** Held names that no longer exist: remove (unless an alias resolves them). */
  missing: string[];
  /** The same name appeared twice: the caller must use the exact (Map) path. */
  duplicate: boolean;
}

/** Index of the first of `n` seq-ordered items whose seq (read by `seqAt`) is > since (binary search). */
function firstAfter(n: number, seqAt: (i: number) => number, since: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqAt(mid) <= since) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface ResourceCacheOptions {
  /** Tombstones kept per type before stuck cursors are expired. */
  maxTombstones?: number;
}

/**
 * The versioned xDS resource cache. Single writer: the push pipeline calls
 * commit(); streams only read. Each entry holds its Resource already encoded
 * (a response "frame"), so N streams share one encoding.
 *
 * Change tracking without per-stream name sets: every commit bumps a global
 * sequence number; per type we keep each name's last-change seq (on its slot;
 * deletions in a tombstone map) and an append-only log of (seq, name)
 * compacted to one entry per name. A stream remembers only the seq it has sent
 * up to, so its pending diff is "names changed after seq S" — O(1) memory per
 * stream however far behind it falls (istio/istio#54858 is the bug class).
 * Tombstones are kept until every cursor has passed them; if they exceed a cap
 * because a client is stuck, that client's cursor is expired and its stream is
 * reset, and the reconnect's initial_resource_versions yields an exact diff.
 */
export class ResourceCache {
  private seqNo = 0;
  private readonly tables = new Map<string, TypeTable>();
  private readonly cursors = new Set<Cursor>();
  private readonly listeners = new Set<CacheListener>();
  private readonly maxTombstones: number;
  /** Recent commits (bounded ring) so streams can time what they deliver. */
  private readonly commitLog: { seq: number; meta: CommitMeta }[] = [];
  /**
   * The last commit, when it made exactly one change (one log record): its table, type, record and meta. A stream
   * caught up to the commit before it owes exactly that record (soleChange): no log search, no lists.
   */
  private soleTable: TypeTable | undefined = undefined;
  private soleType = '';
  private soleRef: CacheEntry | string = '';
  private soleMetaOf: CommitMeta | undefined = undefined;

  /** The table table() returned last, and its type. */
  private memoType: string | undefined = undefined;
  private memoTable: TypeTable | undefined = undefined;

  constructor(opts: ResourceCacheOptions = {}) {
    this.maxTombstones = opts.maxTombstones ?? 100_000;
  }

  get seq(): number {
    return this.seqNo;
  }

  private table(typeUrl: string): TypeTable {
    // The last type asked for first: a commit asks twice per type, and most commits are of one type (a Map lookup
    // per ask was ~3 % of serving one change, docs/design/serve-one.md).
    if (typeUrl === this.memoType) return this.memoTable!;
    let t = this.tables.get(typeUrl);
    if (!t) this.tables.set(typeUrl, (t = new TypeTable()));
    this.memoType = typeUrl;
    this.memoTable = t;
    return t;
  }

  /** Applies one batch atomically (one seq) and notifies streams. */
  commit(changes: readonly TypeCommit[], meta?: CommitMeta): number {
    // No per-commit set of touched types: a one-resource push is the common commit, and its cost is the
    // serve-one row of the istiod bench (docs/design/serve-one.md).
    // Each change that took effect appended one log record; the last one's table and type are kept for soleChange.
    let records = 0;
    let last: TypeTable | undefined;
    let lastType = '';
    const next = this.seqNo + 1;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      const t = this.table(c.typeUrl);
      const before = records;
      const ups = c.upserts;
      if (ups) for (let j = 0; j < ups.length; j++) if (t.upsert(ups[j]!, next)) records++;
      const rms = c.removes;
      if (rms) for (let j = 0; j < rms.length; j++) if (t.remove(rms[j]!, next)) records++;
      if (records === before) continue;
      last = t;
      lastType = c.typeUrl;
    }
    if (last === undefined) return this.seqNo;
    this.seqNo = next;
    if (records === 1) {
      this.soleTable = last;
      this.soleType = lastType;
      this.soleRef = last.logRef[last.logRef.length - 1]!; // read before compaction rewrites the log
      this.soleMetaOf = meta;
    } else {
      this.soleTable = undefined;
      this.soleRef = '';
      this.soleMetaOf = undefined;
    }
    if (meta) {
      this.commitLog.push({ seq: next, meta });
      if (this.commitLog.length > 4096) this.commitLog.splice(0, 1024);
    }
    // The tables this commit changed end their log with its seq (a table listed twice is checked twice: the check
    // is a comparison when nothing is due).
    for (let i = 0; i < changes.length; i++) {
      const t = this.table(changes[i]!.typeUrl);
      if (t.logSeq[t.logSeq.length - 1] !== next) continue;
      t.pairs.settle();
      this.maybeCompact(t);
    }
    for (const l of this.listeners) l(next);
    return next;
  }

  /**
   * What a stream of `typeUrl` whose cursor is `since` has not been sent, when that is exactly the last commit and it
   * made one change: the entry it linked (its current record), or the name it removed; null when that change was to
   * another type (nothing owed for this one). undefined otherwise: the caller reads the log (collectChangedSince),
   * which gives the same answer (caught-up.test.ts), and reports a cursor that fell off it.
   */
  soleChange(typeUrl: string, since: number): CacheEntry | string | null | undefined {
    const t = this.soleTable;
    if (t === undefined || since !== this.seqNo - 1) return undefined;
    if (typeUrl !== this.soleType) return null;
    return since < t.floorSeq ? undefined : this.soleRef;
  }

  /** The meta of the commit soleChange answers from: oldestCommitAfter(seq - 1), and its originAt. */
  get soleMeta(): CommitMeta | undefined {
    return this.soleMetaOf;
  }

  /** The oldest commit after `since` (what a response covering (since, seq] has waited longest for). */
  oldestCommitAfter(since: number): CommitMeta | undefined {
    return this.commitLog[firstAfter(this.commitLog.length, (i) => this.commitLog[i]!.seq, since)]?.meta;
  }

  /** The earliest origin stamp among commits after `since`. */
  earliestOriginAfter(since: number): number | undefined {
    let min: number | undefined;
    for (let i = this.commitLog.length - 1; i >= 0 && this.commitLog[i]!.seq > since; i--) {
      const o = this.commitLog[i]!.meta.originAt;
      if (o !== undefined && (min === undefined || o < min)) min = o;
    }
    return min;
  }

  /** Matches what a reconnecting client holds against the cache, by bytes (no strings for held-and-current names). */
  matchInitial(typeUrl: string, irv: InitialVersions): InitialMatch {
    const out: InitialMatch = { current: 0, changed: [], missing: [], duplicate: false };
    const t = this.tables.get(typeUrl);
    if (!t) {
      for (const k of irv.keys()) out.missing.push(k);
      return out;
    }
    // Fast path: the client holds exactly the current set (same count, same
    // digest of all versions; each version covers its name) — the usual storm
    // after a restart. One sequential pass over the request; otherwise the
    // exact per-name match below.
    if (irv.raw && irv.size === t.size && irv.digest().equals(t.pairs.value)) {
      out.current = irv.size;
      return out;
    }
    const stamp = ++t.matchStamp;
    irv.forEachRaw((b, ns, ne, vs, ve) => {
      const e = t.findBytes(b, ns, ne);
      if (!e) {
        out.missing.push(b.toString('utf8', ns, ne));
        return;
      }
      if (e.stamp === stamp) {
        out.duplicate = true;
        return;
      }
      e.stamp = stamp;
      out.current++;
      if (!e.versionIs(b, vs, ve)) out.changed.push(e);
    });
    return out;
  }

  get(typeUrl: string, name: string): CacheEntry | undefined {
    return this.tables.get(typeUrl)?.get(name);
  }

  /** Names reachable by an on-demand key: the name itself and any alias match. */
  resolve(typeUrl: string, key: string): string[] {
    const t = this.tables.get(typeUrl);
    if (!t) return [];
    const out: string[] = [];
    if (t.get(key)) out.push(key);
    const s = t.aliasTargets(key);
    if (s) {
      for (const e of s) {
        const n = e.name;
        if (n !== key) out.push(n);
      }
    }
    return out;
  }

  /** Entries that list `key` among their aliases (may include the entry named `key`); undefined when none. */
  aliasTargets(typeUrl: string, key: string): Iterable<CacheEntry> | undefined {
    return this.tables.get(typeUrl)?.aliasTargets(key);
  }

  *entries(typeUrl: string): IterableIterator<CacheEntry> {
    const t = this.tables.get(typeUrl);
    if (t) yield* t.entries();
  }

  size(typeUrl: string): number {
    return this.tables.get(typeUrl)?.size ?? 0;
  }

  /**
   * Calls fn once for every name changed after `since`: with its current
   * entry, or with the deleted name. Returns false if `since` predates the
   * compaction floor (the caller must fall back to a reset).
   */
  forEachChangedSince(typeUrl: string, since: number, fn: (e: CacheEntry | string) => void): boolean {
    const t = this.tables.get(typeUrl);
    if (!t) return true;
    if (since < t.floorSeq) return false;
    const seqs = t.logSeq;
    for (let i = firstAfter(seqs.length, (k) => seqs[k]!, since); i < seqs.length; i++) {
      // Only the newest log record of a name counts: no name twice in a response
      // (docs/design/delta-xds-rules.md rule 15).
      const cur = t.current(i);
      if (cur !== undefined) fn(cur);
    }
    return true;
  }

  /**
   * forEachChangedSince for a wildcard subscriber: appends every live entry changed after `since` to `frames` and
   * every name deleted after it to `removed`, with no callback per record. The log holds one current record per
   * live name (an entry is current only under the seq it was linked with), so no entry is appended twice; a name
   * removed, re-added and removed again in one commit leaves two current tombstone records, so `removed` is
   * deduplicated when it holds more than one name (rule 15).
   */
  collectChangedSince(typeUrl: string, since: number, frames: CacheEntry[], removed: string[]): boolean {
    const t = this.tables.get(typeUrl);
    if (!t) return true;
    if (since < t.floorSeq) return false;
    const seqs = t.logSeq;
    const refs = t.logRef;
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid]! <= since) lo = mid + 1;
      else hi = mid;
    }
    const removedFrom = removed.length;
    for (let i = lo; i < seqs.length; i++) {
      const ref = refs[i]!;
      if (typeof ref !== 'string') {
        if (ref.seq === seqs[i]) frames.push(ref);
      } else if (t.tombs.get(ref) === seqs[i]) removed.push(ref);
    }
    if (removed.length - removedFrom > 1) dedupeTail(removed, removedFrom);
    return true;
  }

  openCursor(seq: number): Cursor {
    const c: Cursor = { seq, expired: false };
    this.cursors.add(c);
    return c;
  }

  closeCursor(c: Cursor): void {
    this.cursors.delete(c);
  }

  onCommit(l: CacheListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  stats(): { seq: number; types: Record<string, { entries: number; tombstones: number; log: number }> } {
    const types: Record<string, { entries: number; tombstones: number; log: number }> = {};
    for (const [k, t] of this.tables) types[k] = { entries: t.size, tombstones: t.tombs.size, log: t.logSeq.length };
    return { seq: this.seqNo, types };
  }

  private minCursorSeq(): number {
    let min = this.seqNo;
    for (const c of this.cursors) if (!c.expired && c.seq < min) min = c.seq;
    return min;
  }

  /**
   * Keeps the log at one entry per name and prunes tombstones every cursor has
   * passed. Amortised: runs only when the log has doubled.
   */
  private maybeCompact(t: TypeTable): void {
    const live = t.size;
    const tombstones = t.tombs.size;
    if (t.logSeq.length <= 2 * (live + tombstones) + 1024 && tombstones <= this.maxTombstones) return;
    if (tombstones > this.maxTombstones) {
      // A stuck client pins tombstones: expire the laggards instead of growing.
      // Pruning the oldest (tombstones - max) needs every cursor at or past the
      // newest of them; cursors behind it are expired and their streams reset.
      const tombSeqs = [...t.tombs.values()].sort((a, b) => a - b);
      const cut = tombSeqs[tombSeqs.length - this.maxTombstones - 1] ?? 0;
      for (const c of this.cursors) if (c.seq < cut) c.expired = true;
    }
    const floor = this.minCursorSeq();
    const seqs: number[] = [];
    const refs: (CacheEntry | string)[] = [];
    for (let i = 0; i < t.logSeq.length; i++) {
      const cur = t.current(i);
      if (cur === undefined) continue;
      const seq = t.logSeq[i]!;
      if (typeof cur === 'string' && seq <= floor) {
        t.tombs.delete(cur);
        continue;
      }
      seqs.push(seq);
      refs.push(cur);
    }
    t.logSeq = seqs;
    t.logRef = refs;
    if (floor > t.floorSeq) t.floorSeq = floor;
  }
}

/** Drops repeated names from list[from..], keeping the first of each (in place). */
function dedupeTail(list: string[], from: number): void {
  const seen = new Set<string>();
  let w = from;
  for (let i = from; i < list.length; i++) {
    const n = list[i]!;
    if (seen.has(n)) continue;
    seen.add(n);
    list[w++] = n;
  }
  list.length = w;
}
