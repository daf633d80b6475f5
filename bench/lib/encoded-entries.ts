/**
 * The encoder's part of the design bench/lib/translate-encoded.ts prototypes
 * (docs/design/encode-floor.md): over the Address messages a translation
 * wrote into its arena, each pod's frame, content version and cache entry,
 * made with pkg/wire's and pkg/xds's own pieces, and the check that the
 * design's entries are the Encoder's, frame for frame.
 */
import { addressAliasesFromFrame } from '../../pkg/push';
import type { RegistrySnapshot } from '../../pkg/registry';
import type { AddressMsg, MeshContext } from '../../pkg/translate';
import { CODECS, nameHash, ResourceFrameEncoder, TYPE_ADDRESS } from '../../pkg/wire';
import { entryInPlace, type CacheEntry } from '../../pkg/xds';
import { putVarint } from './pb-forward';
import { encodePods, MSG, MSG_END, SLOTS, UID, verifyEncoded, type EncodedOutput } from './translate-encoded';

/**
 * What the Encoder would have left to do in that design, over the messages the prototype wrote: each pod's
 * Resource.name after its message, copied from the uid inside it; the frame's head before it and its content version
 * (ResourceFrameEncoder.writeHead, the Encoder's own, with the one SHA-256 call); its name's hash; and its cache
 * entry kept in place (entryInPlace, the uid's copy left out as the frame encoder's mark would have it).
 */
export function entriesFromEncoded(out: EncodedOutput): CacheEntry[] {
  const entries: CacheEntry[] = [];
  const enc = new ResourceFrameEncoder(TYPE_ADDRESS, CODECS['istio.workload.Address']);
  const { arena, at } = out;
  const prefixLen = out.uidPrefix.length;
  out.names.forEach((i, key) => {
    const s = SLOTS * i;
    const ms = at[s + MSG]!;
    const me = at[s + MSG_END]!;
    const uid = at[s + UID]!;
    const nameLen = prefixLen + key.length; // the uid, ASCII (Kubernetes names)
    let end = me;
    arena[end++] = 0x1a; // Resource.name
    end = putVarint(arena, end, nameLen);
    for (let k = 0; k < nameLen; k++) arena[end + k] = arena[uid + k]!;
    end += nameLen;
    const start = enc.writeHead(arena, ms, me, end);
    const hash = nameHash(arena, end - nameLen, end);
    entries.push(entryInPlace(arena, start, end, addressAliasesFromFrame, nameLen, uid - start, -1, hash));
  });
  return entries;
}

/**
 * Pods the design gets wrong (0: none): a prototype message that differs from the real encoder's encoding of the
 * translation's Address (verifyEncoded), and an entry made from the prototype's output whose frame differs from the
 * Encoder's entry of the same name in `ref` (or that `ref` lacks).
 */
export function designDiffering(
  snapshot: RegistrySnapshot,
  mesh: MeshContext,
  addresses: ReadonlyMap<string, AddressMsg>,
  ref: readonly CacheEntry[],
): number {
  const frames = new Map(ref.map((e) => [e.name, e.frame]));
  const mine = entriesFromEncoded(encodePods(snapshot, mesh));
  return (
    verifyEncoded(encodePods(snapshot, mesh), addresses) +
    mine.filter((e) => !frames.get(e.name)?.equals(e.frame)).length
  );
}
