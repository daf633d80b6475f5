import type { InitialVersions } from '../wire';
import type { CacheEntry, ResourceCache } from './cache';

/**
 * The first response of a wildcard type on a (re)connected stream, against
 * what the client says it holds (docs/design/delta-xds-rules.md rule 22): entries it lacks or
 * holds at another version are sent (22c: versions are content hashes, stable
 * across restarts and replicas, so an unchanged entry is skipped), names it
 * holds that no longer exist — and that no alias resolves — are removed (22b).
 * Matched by bytes against the cache's index; the cache is scanned only when
 * the client lacks something. A repeated map key (protobuf keeps the last
 * value) takes the exact, string-keyed path.
 */
export function wildcardInitial(
  cache: ResourceCache,
  typeUrl: string,
  irv: InitialVersions,
): { send: CacheEntry[]; remove: string[] } {
  const send: CacheEntry[] = [];
  const remove: string[] = [];
  const gone = (n: string): boolean => cache.resolve(typeUrl, n).length === 0;
  const m = irv.size > 0 ? cache.matchInitial(typeUrl, irv) : undefined;
  if (m && !m.duplicate) {
    send.push(...m.changed);
    for (const n of m.missing) if (gone(n)) remove.push(n);
    if (m.current < cache.size(typeUrl)) {
      const held = irv.toMap();
      for (const e of cache.entries(typeUrl)) if (!held.has(e.name)) send.push(e);
    }
    return { send, remove };
  }
  // Holding nothing (a fresh client): everything, without reading a name or version back from its frame.
  if (irv.size === 0) return { send: [...cache.entries(typeUrl)], remove };
  const held = irv.toMap();
  for (const e of cache.entries(typeUrl)) if (held.get(e.name) !== e.version) send.push(e);
  for (const n of held.keys()) if (!cache.get(typeUrl, n) && gone(n)) remove.push(n);
  return { send, remove };
}
