import type { PeeringFactory } from './contract';
import { Peering } from './peering';
import type { PeeringTuning } from './tuning';

/** The daemon's peering layer (multicluster): `new Daemon(cfg, { ..., peering: createPeering })`. */
export const createPeering: PeeringFactory = (ctx) => new Peering(ctx);

/** Same, with test/bench timing knobs (backoff, persistence delay). */
export function createPeeringWith(tuning: PeeringTuning): PeeringFactory {
  return (ctx) => new Peering(ctx, tuning);
}

export { Peering } from './peering';
export { peeringTypes } from './wire-types';
export { DIAL_CONCURRENCY, DIAL_HOLD_MS } from './tuning';
export type { PeeringTuning } from './tuning';
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
export type { PeerStatus, Condition, Conflict } from './status';
export {
  eastWestManifest, eastWestGateways, linkGateway, parseAddresses, peerInfoFromEastWest, remoteGateway,
  remoteGatewayName,
  CLASS_EAST_WEST, DEFAULT_EAST_WEST_NAME, DEFAULT_GATEWAY_NAMESPACE,
} from './link';
export type { EastWestSpec, Manifest, PeerLinkInfo } from './link';
export { GatewayHealth, tcpProbe, PROBE_INTERVAL_MS, PROBE_TIMEOUT_MS, WINDOW, FALL_OF, RISE } from './gateway-health';
export type { Probe, ProbeTarget } from './gateway-health';
export type { PeerGateway } from './declare';
export { PeerCall } from './peer-call';
export type { PeerCallOptions } from './peer-call';
export type { PeeringContext, PeeringLayer, PeeringBuildResult, PeeringFactory } from './contract';
