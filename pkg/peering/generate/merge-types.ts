import type { RegistrySnapshot } from '../../registry';
import type { AddressMsg, LocalOutput, MeshContext } from '../../translate';
import type { PeerDecl } from '../core';
import type { ExportedService } from './export';
import type { ClusterInfoMsg, FederatedServiceMsg, PeerNodeMsg, PeerWorkloadMsg } from '../core';

/** What the merger reads and what it returns (merge.ts). */

/** Two claimants of one thing: `owners[0]` keeps it, `owners[1]` (the peer's) is not programmed. */
export interface Conflict {
  kind: string;
  key: string;
  owners: [string, string];
  reason: string;
}

/** One peer's imported data (its partition, written only by its client). */
export interface PeerData {
  readonly clusterInfo?: ClusterInfoMsg;
  readonly services: ReadonlyMap<string, FederatedServiceMsg>;
  readonly workloads: ReadonlyMap<string, PeerWorkloadMsg>;
  readonly nodes: ReadonlyMap<string, PeerNodeMsg>;
}

export interface PeerView {
  decl: PeerDecl;
  data: PeerData;
  /** Same network and flat networks enabled: pods are imported as real workloads. */
  flat: boolean;
}

export interface MergeInput {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  local: LocalOutput;
  exported: ReadonlyMap<string, ExportedService>;
  /** Sorted by cluster id. */
  peers: readonly PeerView[];
  suffix: string;
  defaultTrafficDistribution: string;
}

export interface MergeResult {
  addresses: Map<string, AddressMsg>;
  /**
   * Set on an incremental merge: `addresses` differs from the previous
   * result's only in these names (an object that kept its identity is not
   * listed). Absent after a full merge — then compare the maps.
   */
  changed?: Set<string>;
  removed?: Set<string>;
  /**
   * Split-horizon workloads (one per peer gateway x global service: 200k at
   * 2,000 peers x 100 services) are not in `addresses`. The merger keeps no
   * message for them, only what they were built from: `changed` holds the ones
   * built by this merge (encode them now, then drop them), `removed` the names
   * that no longer exist. After a `reset` merge `changed` holds all of them.
   */
  remote: RemoteChanges;
  /** Per peer cluster: address collisions found (flat mode), human-readable. */
  conflicts: Map<string, Conflict[]>;
  /** Global service hostname -> VIP. */
  vips: Map<string, string>;
}

export interface RemoteChanges {
  /**
   * Name -> the message, made when called: built only when encoded, one at a
   * time, so a first sync's 200k messages are never all alive together.
   */
  changed: Map<string, () => AddressMsg>;
  removed: Set<string>;
}

/** Peer partitions changed only in these FederatedServices since the last merge (cluster -> "ns/name"). */
export type MergeDirty = ReadonlyMap<string, ReadonlySet<string>>;
