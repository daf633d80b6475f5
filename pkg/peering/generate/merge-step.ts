import { MapDeltas, type ResourceDelta } from '../../push';
import type { RegistrySnapshot } from '../../registry';
import type { LocalGeneration, MeshContext } from '../../translate';
import { AddressDeltas } from './address-deltas';
import { Exporter, exportedServices } from './export';
import { Merger } from './merge';
import type { Conflict, MergeDirty, PeerView } from './merge-types';

export interface MergeStepInput {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  local: LocalGeneration;
  /** ResourceDelta's full build (pkg/push). */
  full: boolean;
  /** Sorted by cluster id. */
  peers: readonly PeerView[];
  /** Peers' FederatedServices changed since the last build; undefined: something else of theirs changed. */
  dirty?: MergeDirty;
  onConflict: (cluster: string, message: string) => void;
}

export interface MergeStepOptions {
  /** Software version stamped into ClusterInfo. */
  version: string;
  /** Global service domain suffix (e.g. mesh.internal). */
  suffix: string;
  defaultTrafficDistribution: string;
  now: () => number;
}

/**
 * The peering layer's generator: the local deltas merged with peers' data (the Merger, incremental when only
 * peers' FederatedServices changed), then the exports served to peers. With no peers and nothing exported the
 * local Address delta passes through. Keeps what it needs to say what changed since its own previous output.
 */
export class MergeStep {
  private readonly exporter: Exporter;
  private readonly merger = new Merger();
  private readonly addresses = new AddressDeltas();
  private readonly exports = new Map<string, MapDeltas>();
  private lastInputs?: { services: unknown; namespaces: unknown; mesh: string };

  constructor(private readonly o: MergeStepOptions) {
    this.exporter = new Exporter({ version: o.version, suffix: o.suffix, now: o.now });
  }

  build(i: MergeStepInput): { deltas: ResourceDelta[]; conflicts: Map<string, Conflict[]> } {
    const { snapshot, mesh, local, full } = i;
    const exported = exportedServices(snapshot, mesh);
    const exports: ResourceDelta[] = [];
    for (const [typeUrl, m] of this.exporter.build(snapshot, mesh, local.output, exported)) {
      let d = this.exports.get(typeUrl);
      if (!d) this.exports.set(typeUrl, (d = new MapDeltas(typeUrl)));
      exports.push(d.next(m, full));
    }
    if (i.peers.length === 0 && exported.size === 0) {
      // Nothing to merge: ztunnels see the local output as is; the next merge is a full one.
      this.lastInputs = undefined;
      const withdrawn = this.merger.clear({ reset: full });
      const address = this.addresses.local(local.output.addresses, local.address, withdrawn, full);
      return { deltas: [address, local.authorization, ...exports], conflicts: new Map() };
    }
    // A full merge when anything but peers' FederatedServices changed (local output, services, namespaces,
    // mesh, peer set).
    const meshKey = JSON.stringify(mesh);
    const last = this.lastInputs;
    const localChanged = local.address.changed.size > 0 || local.address.removed.size > 0;
    const fullMerge =
      full ||
      !i.dirty ||
      localChanged ||
      !last ||
      last.services !== snapshot.services ||
      last.namespaces !== snapshot.namespaces ||
      last.mesh !== meshKey;
    this.lastInputs = { services: snapshot.services, namespaces: snapshot.namespaces, mesh: meshKey };
    const res = this.merger.merge(
      {
        snapshot,
        mesh,
        local: local.output,
        exported,
        peers: i.peers,
        suffix: this.o.suffix,
        defaultTrafficDistribution: this.o.defaultTrafficDistribution,
      },
      i.onConflict,
      fullMerge ? undefined : i.dirty,
      { live: true, reset: full },
    );
    const address = this.addresses.merged(res, full);
    return { deltas: [address, local.authorization, ...exports], conflicts: res.conflicts };
  }
}
