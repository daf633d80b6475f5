import { InitialVersions, type FramePart } from '../wire';
import type { CacheEntry, Cursor, ResourceCache } from './cache';
import { wildcardInitial } from './initial';
import type { Subscription } from './subscription';

const EMPTY_IRV = InitialVersions.fromMap(new Map());

/** One stream's state for one type URL (written only by its XdsStream). */
export interface TypeState {
  readonly typeUrl: string;
  readonly sub: Subscription;
  cursor: Cursor | null;
  /** initial_resource_versions of the first request, consumed by the first response. */
  initial: InitialVersions | null;
  /** Names that must be answered in the next response (rules 9, 13). */
  force: Set<string>;
  /** Names unsubscribed while still wildcard (rule 10). */
  unsubNotify: Set<string>;
  /** Names the client holds; tracked only for non-wildcard subscriptions. */
  held: Set<string> | null;
  mustRespond: boolean;
  nonceSent: string;
  nonceAcked: string;
  sentAt?: number;
  ackedAt?: number;
  /** Timing of the response identified by nonceSent. */
  sentCommitAt?: number;
  sentOriginAt?: number;
  /** Cache seq the response identified by nonceSent covers, and the seq of the last ACKed response. */
  sentSeq?: number;
  ackedSeq?: number;
  lastNack?: { nonce: string; message: string; at: number };
  responses: number;
  acks: number;
  nacks: number;
  /** Metric label, and bound metric children: label work once per type, not per request/response. */
  readonly label: string;
  readonly pushes: { inc(): void };
}

/**
 * The next response for one type of one stream: what changed in the cache
 * since the type's cursor and what its subscription owes (forced names,
 * unsubscribe notices, the first response's initial_resource_versions).
 * Advances the cursor and the held-name set. undefined = the cursor fell off
 * the log (the caller resets the stream).
 */
export function nextResponse(cache: ResourceCache, st: TypeState): { frames: FramePart[]; removed: string[]; since: number } | undefined {
  // The entries themselves: the transport copies each into its output (no per-resource Buffer here).
  const frames: FramePart[] = [];
  const removed: string[] = [];
  // Rule 15: no name twice in one response. An entry object stands for its
  // name (one live entry per name), so sent entries are deduplicated without
  // reading their names; removals are names, and never also sent.
  const sent = new Set<CacheEntry>();
  const gone = new Set<string>();
  const add = (e: CacheEntry): void => {
    if (sent.has(e)) return;
    sent.add(e);
    frames.push(e);
    st.held?.add(e.name);
  };
  const remove = (n: string): void => {
    if (gone.has(n)) return;
    const live = cache.get(st.typeUrl, n);
    if (live && sent.has(live)) return;
    gone.add(n);
    removed.push(n);
    st.held?.delete(n);
  };
  /** Answers an explicitly named key: the resources it resolves to, and the key itself removed if it is only an alias. */
  const answerKey = (key: string, skipVersions?: ReadonlyMap<string, string>): void => {
    const resolved = cache.resolve(st.typeUrl, key);
    for (const n of resolved) {
      const e = cache.get(st.typeUrl, n)!;
      if (skipVersions && skipVersions.get(n) === e.version) continue;
      add(e);
    }
    // Rule 13: a subscribed name that does not exist is answered in removed_resources.
    // ztunnel wakes an on-demand waiter only on a resource *named* by the key or
    // the key in removed_resources (ztunnel-protocol.md §3.2), so an alias key is
    // also listed as removed — harmless to ztunnel, essential for the wake-up.
    if (!resolved.includes(key)) remove(key);
  };
  let since: number;
  if (st.cursor === null) {
    since = -1;
    const irv = st.initial ?? EMPTY_IRV;
    st.initial = null;
    if (st.sub.wildcard) {
      const r = wildcardInitial(cache, st.typeUrl, irv);
      for (const e of r.send) add(e);
      for (const n of r.remove) remove(n);
    }
    if (st.sub.explicitNames.size > 0) {
      const held = irv.size > 0 ? irv.toMap() : undefined;
      for (const n of st.sub.explicitNames) answerKey(n, held);
    }
    st.force.clear();
    st.unsubNotify.clear();
    st.cursor = cache.openCursor(cache.seq);
    return { frames, removed, since };
  }
  since = st.cursor.seq;
  const wildcard = st.sub.wildcard;
  const ok = cache.forEachChangedSince(st.typeUrl, since, (c) => {
    if (typeof c === 'string') {
      if (wildcard || st.held?.has(c) || st.sub.has(c)) remove(c);
      return;
    }
    if (wildcard) return add(c);
    const name = c.name;
    if (st.held?.has(name) || st.sub.has(name) || c.aliases.some((a) => st.sub.has(a))) add(c);
  });
  if (!ok) return undefined;
  for (const n of st.force) answerKey(n);
  st.force.clear();
  for (const n of st.unsubNotify) {
    // Rule 10: tell the client whether the wildcard still covers the name.
    const e = cache.get(st.typeUrl, n);
    if (wildcard && e) add(e);
    else remove(n);
  }
  st.unsubNotify.clear();
  st.cursor.seq = cache.seq;
  return { frames, removed, since };
}
