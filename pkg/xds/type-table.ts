import { nameHash, nameHashString } from '../wire';
import { CacheEntry } from './cache-entry';
import { TableDigest } from './table-digest';

/**
 * One type's resources, indexed by the hash of their name bytes only (no
 * name strings: see CacheEntry). The change log is two parallel arrays; a
 * record refers to the entry it linked (current while that entry is, i.e.
 * until it is replaced or removed) or, for a deletion, to the name.
 */
export class TypeTable {
  /** nameHash(name bytes) -> entry chain. */
  readonly byHash = new Map<number, CacheEntry>();
  private live = 0;
  /** Deleted names -> seq of the deletion, until every cursor has passed it. */
  readonly tombs = new Map<string, number>();
  matchStamp = 0;
  /** Digest of every version held (each covers its name): the reconnect fast path (SetDigest), folded in lazily. */
  readonly pairs = new TableDigest();
  /** The change log as two parallel arrays (seq ascending). */
  logSeq: number[] = [];
  logRef: (CacheEntry | string)[] = [];
  /**
   * Alias -> the name hash (byHash key) of the one entry it resolves to, or the set of entries when it resolves to
   * more than one (in the order they were added: a replaced entry's successor goes last). An entry replaced under its
   * name with the same aliases leaves a one-entry alias as it is (its chain has not changed): most updates of a
   * workload keep its addresses, and a Map.get + Map.set per alias was ~5 % of serving one change
   * (docs/design/serve-one.md, fifth pass).
   */
  private readonly aliasIndex = new Map<string, number | Set<CacheEntry>>();
  /**
   * Whether aliasIndex is kept. It is built on the first aliasTargets call, from the live entries in the order the
   * log linked them (each set's order: see aliasIndex), and kept from then on. Until then no entry's aliases are
   * read, so entries made with an AliasReader never make them: wildcard clients (ztunnel's default) ask for none.
   */
  private indexing = false;
  /** Changes older than this have been compacted away (tombstones pruned). */
  floorSeq = 0;

  get size(): number {
    return this.live;
  }

  get(name: string): CacheEntry | undefined {
    for (let e = this.byHash.get(nameHashString(name)); e; e = e.next) if (e.nameEquals(name)) return e;
    return undefined;
  }

  findBytes(b: Uint8Array, ns: number, ne: number): CacheEntry | undefined {
    for (let e = this.byHash.get(nameHash(b, ns, ne)); e; e = e.next) if (e.nameIs(b, ns, ne)) return e;
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
    // The hash was written with the name (CacheEntry.nameHash); names and versions are compared where the entries
    // hold them (sameName, sameVersion: no view, no key tuple; docs/design/serve-one.md).
    const h = e.nameHash;
    let prev: CacheEntry | undefined;
    let old = this.byHash.get(h);
    for (; old; prev = old, old = old.next) if (old.sameName(e)) break;
    const logEnd = this.logRef.length - 1;
    if (old) {
      if (old.sameVersion(e)) return false;
      this.pairs.unlinking(old, seq);
      e.next = old.next;
      old.seq = -1;
      old.next = undefined;
    } else {
      if (this.tombs.size > 0) this.tombs.delete(e.name); // resurrected (or new)
      e.next = undefined;
      this.live++;
    }
    e.seq = seq;
    // In place of the old entry, or (a new name) at the end of the chain: prev is its last entry.
    if (prev) prev.next = e;
    else this.byHash.set(h, e);
    this.pairs.linked(e, seq);
    // After linking: the chain holds the new entry and no longer the old one (what the alias index reads).
    if (old) this.moveAliases(old, e);
    else this.addAliases(e);
    if (old && logEnd >= 0 && this.logRef[logEnd] === old) {
      // The log's last record is the replaced entry's, now superseded (no reader would use it: compaction drops
      // such records): the new record takes its place. A resource changing again and again, with nothing else
      // between, then grows no log, and the log keeps no replaced entry alive until the next compaction.
      this.logSeq[logEnd] = seq;
      this.logRef[logEnd] = e;
      return true;
    }
    this.logSeq.push(seq);
    this.logRef.push(e);
    return true;
  }

  remove(name: string, seq: number): boolean {
    const h = nameHashString(name);
    let prev: CacheEntry | undefined;
    let e = this.byHash.get(h);
    for (; e; prev = e, e = e.next) if (e.nameEquals(name)) break;
    if (!e) return false;
    this.pairs.unlinking(e, seq);
    if (prev) prev.next = e.next;
    else if (e.next) this.byHash.set(h, e.next);
    else this.byHash.delete(h);
    this.dropAliases(e);
    e.seq = -1;
    e.next = undefined;
    this.live--;
    this.tombs.set(name, seq);
    this.logSeq.push(seq);
    this.logRef.push(name);
    return true;
  }

  /** Entries that list `key` among their aliases; undefined when none. */
  aliasTargets(key: string): Iterable<CacheEntry> | undefined {
    if (!this.indexing) this.startIndexing();
    const v = this.aliasIndex.get(key);
    if (typeof v !== 'number') return v;
    const e = this.aliasOwner(v, key, undefined);
    return e && [e];
  }

  /** The entry of chain h other than `except` that lists alias `key`. */
  private aliasOwner(h: number, key: string, except: CacheEntry | undefined): CacheEntry | undefined {
    for (let e = this.byHash.get(h); e; e = e.next) if (e !== except && e.aliases.includes(key)) return e;
    return undefined;
  }

  /**
   * Indexes every live entry, each once, in the order it was linked: the log holds one current record per live
   * entry, in link order (compaction keeps current records in order), which is the order the index kept from the
   * start would hold them in.
   */
  private startIndexing(): void {
    this.indexing = true;
    for (let i = 0; i < this.logRef.length; i++) {
      const cur = this.current(i);
      if (cur !== undefined && typeof cur !== 'string') this.addAliases(cur);
    }
  }

  /** Indexes the aliases of `e`, which is linked. */
  private addAliases(e: CacheEntry): void {
    if (!this.indexing) return;
    const h = e.nameHash;
    for (const a of e.aliases) {
      const v = this.aliasIndex.get(a);
      if (v === undefined) this.aliasIndex.set(a, h);
      else if (typeof v === 'number') {
        const x = this.aliasOwner(v, a, e);
        if (x === undefined) continue; // e's own (the alias twice in its list)
        x.sharedAlias = true;
        e.sharedAlias = true;
        this.aliasIndex.set(a, new Set([x, e]));
      } else {
        v.add(e);
        e.sharedAlias = true;
      }
    }
  }

  /**
   * `next` has replaced `prev` under the same name (linked in its place). A changed workload usually keeps its
   * addresses: then an alias naming one entry already holds the name's hash, and only aliases naming several
   * entries (sharedAlias) change, each moving to the new entry at the end of its set (where add() puts it).
   */
  private moveAliases(prev: CacheEntry, next: CacheEntry): void {
    if (!this.indexing) return;
    const a = prev.aliases;
    const b = next.aliases;
    let same = a.length === b.length;
    for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
    if (!same) {
      this.dropAliases(prev);
      this.addAliases(next);
      return;
    }
    if (!prev.sharedAlias) return;
    next.sharedAlias = true;
    for (const key of a) {
      const v = this.aliasIndex.get(key);
      if (v instanceof Set) {
        v.delete(prev);
        v.add(next);
      }
    }
  }

  /** Takes the aliases of `e`, replaced or removed (no longer in its chain), out of the index. */
  private dropAliases(e: CacheEntry): void {
    if (!this.indexing) return;
    for (const a of e.aliases) {
      const v = this.aliasIndex.get(a);
      if (v === undefined) continue;
      if (typeof v === 'number') {
        // A hash: one entry lists the alias. Not e when another entry of its chain does (a set of two was just made
        // one by an earlier copy of the alias in e's list).
        if (v === e.nameHash && this.aliasOwner(v, a, e) === undefined) this.aliasIndex.delete(a);
        continue;
      }
      v.delete(e);
      // Back to the one-entry form when one is left (the set's only member).
      if (v.size === 1) for (const only of v) this.aliasIndex.set(a, only.nameHash);
      else if (v.size === 0) this.aliasIndex.delete(a);
    }
  }
}
