import { diffMaps, fullDelta, UnconfirmedRemovals } from '../../push';
import type { MessageMap, MessageSource, ResourceDelta } from '../../push';
import { TYPE_ADDRESS } from '../../wire';
import type { MergeResult, RemoteChanges } from './merge-types';

/**
 * The Address deltas of the peering layer: what it emitted last (outside split-horizon workloads, which the
 * Merger tracks itself) and the delta to its next output. Its output is either the local output passed through
 * (no peers, nothing exported) or the Merger's; it keeps its own copy of a merged output, because the Merger
 * updates its map in place (no O(all) copy per push), so a throw inside a merge cannot lose a removal.
 */
export class AddressDeltas {
  /**
   * The last output: the local output itself (immutable; the local delta describes the step from it), or a
   * private copy of a merged one.
   */
  private last?: { kind: 'local'; map: MessageMap } | { kind: 'merged'; map: Map<string, object> };
  private readonly unconfirmed = new UnconfirmedRemovals();

  /** The local output passed through; `withdrawn`: split-horizon workloads Merger.clear() took back. */
  local(addresses: MessageMap, delta: ResourceDelta, withdrawn: RemoteChanges, full: boolean): ResourceDelta {
    this.unconfirmed.begin(full);
    const last = this.last;
    const own =
      full || !last
        ? fullDelta(TYPE_ADDRESS, addresses, last?.map.keys() ?? [], this.unconfirmed.values())
        : last.kind === 'local'
          ? delta
          : diffMaps(TYPE_ADDRESS, last.map, addresses);
    this.unconfirmed.record(own.removed);
    this.last = { kind: 'local', map: addresses };
    return withRemote(own, withdrawn);
  }

  /** A merge result: its changed/removed hint when it has one and follows a merge, else a diff. */
  merged(res: MergeResult, full: boolean): ResourceDelta {
    this.unconfirmed.begin(full);
    const last = this.last;
    let own: ResourceDelta;
    if (!full && last?.kind === 'merged' && res.changed && res.removed) {
      // O(changes): the hint names every entry whose object changed since the previous merge.
      const copy = last.map;
      const changed = new Map<string, object>();
      for (const name of res.changed) {
        const msg = res.addresses.get(name);
        if (msg === undefined || copy.get(name) === msg) continue;
        changed.set(name, msg);
        copy.set(name, msg);
      }
      const removed = new Set<string>();
      for (const name of res.removed) {
        if (res.addresses.has(name)) continue;
        removed.add(name);
        copy.delete(name);
      }
      own = { typeUrl: TYPE_ADDRESS, changed, removed };
    } else {
      own =
        full || !last
          ? fullDelta(TYPE_ADDRESS, res.addresses, last?.map.keys() ?? [], this.unconfirmed.values())
          : diffMaps(TYPE_ADDRESS, last.map, res.addresses);
      this.last = { kind: 'merged', map: new Map(res.addresses) };
    }
    this.unconfirmed.record(own.removed);
    return withRemote(own, res.remote);
  }
}

/** `own` plus the split-horizon workloads' changes (their names never appear in a merged map). */
function withRemote(own: ResourceDelta, remote: RemoteChanges): ResourceDelta {
  if (remote.changed.size === 0 && remote.removed.size === 0) return own;
  const changed = new Map<string, MessageSource>(own.changed);
  remote.changed.forEach((make, name) => changed.set(name, make));
  const removed = new Set(own.removed);
  for (const name of remote.removed) removed.add(name);
  return { typeUrl: TYPE_ADDRESS, changed, removed };
}
