import { InitialVersions, type FramePart, type ResponseHead } from '../wire';
import type { MessageLease } from '../transport';
import type { CacheEntry, Cursor, ResourceCache } from './cache';
import { wildcardInitial } from './initial';
import type { OwedNames } from './owed-names';
import type { Subscription } from './subscription';

const EMPTY_IRV = InitialVersions.fromMap(new Map());

/**
 * Subscribed names answered per response. Delta xDS lets a server answer a
 * request's names over several responses (each name is answered once it is
 * in one: rule 9 of docs/design/delta-xds-rules.md); a slice bounds the event-loop time and the size of one
 * response (about a millisecond and ~6 KB of removed names), so a stream that
 * subscribed hundreds of thousands of names cannot hold the loop while other
 * streams wait.
 */
export const ANSWER_SLICE = 512;

/** One stream's state for one type URL (written only by its XdsStream). */
export interface TypeState {
  readonly typeUrl: string;
  readonly sub: Subscription;
  cursor: Cursor | null;
  /** initial_resource_versions of the first request, consumed by the first response. */
  initial: InitialVersions | null;
  /** The hold on the request bytes `initial` reads, released once it is consumed (or the stream ends). */
  initialLease?: MessageLease;
  /** Names that must be answered in the next responses (rules 9, 13). */
  readonly force: OwedNames;
  /** Names unsubscribed while still wildcard (rule 10). */
  unsubNotify: Set<string>;
  /** Names the client holds; tracked only for non-wildcard subscriptions. */
  held: Set<string> | null;
  mustRespond: boolean;
  /**
   * The number n of the nonce of the last response sent (`<stream id>-<n>`, ResponseWriter) and of the last one
   * ACKed; 0 = none. Numbers, not strings: no nonce string is made per response (ResponseWriter.isNonce).
   */
  nonceSent: number;
  nonceAcked: number;
  /** This stream's response heads for the type (ResponseWriter makes them for the type's first response). */
  head: ResponseHead | null;
  /** Monotonic ms when nonceSent went to the sink (the status view turns it into wall time when read). */
  sentMono?: number;
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
export function nextResponse(
  cache: ResourceCache,
  st: TypeState,
): { frames: FramePart[]; removed: string[]; since: number } | undefined {
  if (st.cursor !== null && st.sub.wildcard && st.held === null && st.force.size === 0 && st.unsubNotify.size === 0) {
    return caughtUpWildcard(cache, st, st.cursor);
  }
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
  /** A name the cache does not hold: a removal (one Set operation for the dedupe). */
  const removeAbsent = (n: string): void => {
    const before = gone.size;
    gone.add(n);
    if (gone.size === before) return;
    removed.push(n);
    st.held?.delete(n);
  };
  const remove = (n: string): void => {
    const live = cache.get(st.typeUrl, n);
    if (live && sent.has(live)) return;
    removeAbsent(n);
  };
  /**
   * Answers an explicitly named key: the entry it names and the entries it is
   * an alias of, skipping what the client holds at the same version; the key
   * itself is removed if nothing is named by it. Two map lookups and no
   * allocation for a key the cache does not know (the common case of a flood).
   */
  const answerKey = (key: string, skipVersions?: ReadonlyMap<string, string>): void => {
    const own = cache.get(st.typeUrl, key);
    if (own && !(skipVersions && skipVersions.get(key) === own.version)) add(own);
    const targets = cache.aliasTargets(st.typeUrl, key);
    if (targets) {
      for (const e of targets) {
        if (e === own || (skipVersions && skipVersions.get(e.name) === e.version)) continue;
        add(e);
      }
    }
    // Rule 13: a subscribed name that does not exist is answered in removed_resources.
    // ztunnel wakes an on-demand waiter only on a resource *named* by the key or
    // the key in removed_resources (ztunnel State::notify_on_demand), so an alias key is
    // also listed as removed — harmless to ztunnel, essential for the wake-up.
    if (!own) removeAbsent(key);
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
    st.force.clear();
    st.unsubNotify.clear();
    if (st.sub.explicitNames.size > 0) {
      const held = irv.size > 0 ? irv.toMap() : undefined;
      // Past one slice, the rest is owed like a later subscribe (the client may get
      // again what it holds at the same version: correct, and only for huge requests).
      let budget = ANSWER_SLICE;
      const rest: string[] = [];
      for (const n of st.sub.explicitNames) {
        if (budget-- > 0) answerKey(n, held);
        else rest.push(n);
      }
      st.force.push(rest);
    }
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
    if (wildcard) return void add(c);
    const name = c.name;
    if (st.held?.has(name) || st.sub.has(name) || c.aliases.some((a) => st.sub.has(a))) add(c);
  });
  if (!ok) return undefined;
  // At most one slice of owed names per response; the rest go out in the next ones.
  const owed = st.force.size;
  st.force.take(ANSWER_SLICE, (n) => answerKey(n));
  let budget = ANSWER_SLICE - (owed - st.force.size);
  for (const n of st.unsubNotify) {
    if (budget-- <= 0) break;
    st.unsubNotify.delete(n);
    // Rule 10: tell the client whether the wildcard still covers the name.
    const e = cache.get(st.typeUrl, n);
    if (wildcard && e) add(e);
    else remove(n);
  }
  st.cursor.seq = cache.seq;
  return { frames, removed, since };
}

/**
 * nextResponse for the usual push: a wildcard type whose first response went out and that owes no names. Its
 * response is exactly the log since the cursor (every change sent, every deletion removed), so the general path's
 * dedupe sets and per-name checks have nothing to do: the cache appends straight into the response's lists.
 */
function caughtUpWildcard(
  cache: ResourceCache,
  st: TypeState,
  cursor: Cursor,
): { frames: FramePart[]; removed: string[]; since: number } | undefined {
  const since = cursor.seq;
  const frames: CacheEntry[] = [];
  const removed: string[] = [];
  if (!cache.collectChangedSince(st.typeUrl, since, frames, removed)) return undefined;
  cursor.seq = cache.seq;
  return { frames, removed, since };
}
