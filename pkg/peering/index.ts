import type { PeeringFactory } from '../daemon';
import { Peering, type PeeringTuning } from './layer';

/** The daemon's peering layer (multicluster): `new Daemon(cfg, { ..., peering: createPeering })`. */
export const createPeering: PeeringFactory = (ctx) => new Peering(ctx);

/** Same, with test/bench timing knobs (backoff, persistence delay). */
export function createPeeringWith(tuning: PeeringTuning): PeeringFactory {
  return (ctx) => new Peering(ctx, tuning);
}

export { Peering, peeringTypes } from './layer';
export type { PeeringTuning } from './layer';
export {
  PEERING_PROTO, PEERING_TYPES, MSG, TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE, TYPE_PEER_WORKLOAD, TYPE_PEER_NODE,
  CLUSTER_INFO_NAME, Takeover, MAX_CAPACITY,
} from './types';
export type { FederatedServiceMsg, ClusterInfoMsg, PeerWorkloadMsg, PeerNodeMsg, EastWestGatewayMsg, ServicePortMsg } from './types';
export { capacityBucket, serviceScope, explicitTakeover, exportedServices, Exporter } from './export';
export { declaredPeers, validatePeerGateway, localEastWest } from './declare';
export type { PeerDecl, PeerDeclarations, InvalidPeer } from './declare';
export { Merger, loadBalancingFor, splitHorizonUid, nodeGatewayHost } from './merge';
export type { PeerData, PeerView, MergeInput, MergeResult } from './merge';
export { allocateVips, preferredSlot, slotToBytes } from './vip';
export { validateImported } from './validate';
export { PeerPartition, peerFile } from './partition';
export { TERMINATION_REASONS, uriSans } from './client';
export type { TerminationReason, PeerClientState } from './client';
export type { PeerStatus, Condition } from './status';
export { BidiCall } from './h2call';
export type { BidiCallOptions } from './h2call';
