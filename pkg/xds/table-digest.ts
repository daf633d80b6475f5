import { SetDigest } from '../wire';
import type { CacheEntry } from './cache-entry';

/** Pairs waiting before a commit folds them in (bounds what they hold: the entries and their frames). */
const BATCH = 1024;

/**
 * One type's SetDigest of every version it holds (each covers its name: see SetDigest), kept up to date lazily.
 * Only a reconnecting client reads it (ResourceCache.matchInitial), while every commit changes it, so a linked or
 * unlinked entry is only noted here, and the versions are hashed when the digest is read or once BATCH have waited
 * (at the end of a commit, never inside one). An entry linked and replaced between two folds is never hashed at all:
 * a resource that changes repeatedly costs one hash in and one out per fold, not two per change (about a tenth of a
 * one-change commit: docs/design/serve-one.md). The result is the same digest as hashing every change at once
 * (type-table.test.ts).
 */
export class TableDigest {
  private readonly sum = new SetDigest();
  /** Entries linked since the last fold (those replaced since have seq -1 and are skipped). */
  private adds: CacheEntry[] = [];
  /** Entries that were in the digest and have been replaced or removed since the last fold. */
  private drops: CacheEntry[] = [];
  /** Entries linked at a seq after this one are in `adds`, not yet in the sum. */
  private foldedAt = 0;
  /** The highest seq noted. */
  private lastSeq = 0;

  /** The digest of every pair held. */
  get value(): SetDigest {
    this.fold();
    return this.sum;
  }

  /** `e` was linked at `seq` (its seq field is set). */
  linked(e: CacheEntry, seq: number): void {
    this.adds.push(e);
    this.lastSeq = seq;
  }

  /** `e` is about to be replaced or removed (called before its seq is cleared), at `seq`. */
  unlinking(e: CacheEntry, seq: number): void {
    // Linked after the last fold: it is only in `adds`, where its cleared seq makes the fold skip it; when it is the
    // last one added (a resource changing again and again) it leaves `adds`, which then holds no replaced entry.
    if (e.seq <= this.foldedAt) this.drops.push(e);
    else if (this.adds[this.adds.length - 1] === e) this.adds.pop();
    this.lastSeq = seq;
  }

  /** At the end of a commit: folds once enough pairs wait. */
  settle(): void {
    if (this.adds.length + this.drops.length > BATCH) this.fold();
  }

  private fold(): void {
    for (const e of this.drops) e.digestVersion(this.sum, -1);
    for (const e of this.adds) if (e.seq >= 0) e.digestVersion(this.sum, 1);
    this.adds = [];
    this.drops = [];
    this.foldedAt = this.lastSeq;
  }
}
