import * as crypto from 'node:crypto';
import type { KeySet } from './jwks';
import type { CallerIdentity } from './types';

/** A token that passed every check, and what it was checked against. */
export interface VerifiedToken {
  identity: CallerIdentity;
  /** Epoch ms of the token's exp / nbf claims. */
  exp: number;
  nbf: number;
  /** The key set that verified it and that set's generation at the time. */
  keys: KeySet;
  generation: number;
}

/**
 * Tokens already verified, so a ztunnel that sends the same token on every
 * CSR pays one signature check, not one per request. Keyed by the SHA-256 of
 * the token (32 bytes per entry, not the ~1 KiB token). An entry is dropped at
 * the token's exp and as soon as its key set's generation changes (rotation or
 * removal of a key), so a token is never accepted on a key the issuer no longer
 * publishes. Bounded: the oldest entry goes first. Only successes are stored.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedToken>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  static keyOf(token: string): string {
    return crypto.createHash('sha256').update(token, 'latin1').digest('base64');
  }

  /** The entry for `key` if it is still valid at `now` (epoch ms); a stale entry is removed. */
  lookup(key: string, now: number): VerifiedToken | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (now >= hit.exp || hit.keys.generation() !== hit.generation) {
      this.entries.delete(key);
      return undefined;
    }
    return hit;
  }

  /** Remembers a verified token until its exp (a token already past exp is not stored). */
  store(key: string, v: VerifiedToken, now: number): void {
    if (this.maxEntries <= 0 || now >= v.exp) return;
    this.entries.delete(key);
    this.entries.set(key, v);
    // Map iteration is insertion order: the first entry is the oldest.
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}
