import type { PeeringFactory } from './contract';
import { Peering } from './peering';
import type { PeeringTuning } from './tuning';

// The only front door of pkg/peering used outside it. Rooms: core/ (vocabulary), link/ (peer wire client),
// state/ (peer partitions), generate/ (pure generators); the orchestrator (peering.ts) composes them.

/** The daemon's peering layer (multicluster): `buildDaemon(cfg, { ..., peering: createPeering })`. */
export const createPeering: PeeringFactory = (ctx) => new Peering(ctx);

/** Same, with test/bench timing knobs (backoff, persistence delay). */
export function createPeeringWith(tuning: PeeringTuning): PeeringFactory {
  return (ctx) => new Peering(ctx, tuning);
}

export { Peering } from './peering';
export { DIAL_CONCURRENCY, DIAL_HOLD_MS } from './tuning';
export type { PeeringTuning } from './tuning';
export type { PeerStatus, Condition, Conflict } from './status';
export type { PeeringContext, PeeringLayer, PeeringBuildResult, PeeringFactory } from './contract';
export {
  PEERING_PROTO,
  PEERING_TYPES,
  MSG,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_WORKLOAD,
  TYPE_PEER_NODE,
  CLUSTER_INFO_NAME,
  Takeover,
  MAX_CAPACITY,
  declaredPeers,
  validatePeerGateway,
  localEastWest,
  validateImported,
} from './core';
export type {
  FederatedServiceMsg,
  ClusterInfoMsg,
  PeerWorkloadMsg,
  PeerNodeMsg,
  EastWestGatewayMsg,
  ServicePortMsg,
  PeerDecl,
  PeerDeclarations,
  InvalidPeer,
  PeerGateway,
} from './core';
export {
  capacityBucket,
  serviceScope,
  explicitTakeover,
  exportedServices,
  Exporter,
  Merger,
  loadBalancingFor,
  splitHorizonUid,
  nodeGatewayHost,
  allocateVips,
  preferredSlot,
  slotToBytes,
  eastWestManifest,
  eastWestGateways,
  linkGateway,
  parseAddresses,
  peerInfoFromEastWest,
  remoteGateway,
  remoteGatewayName,
  CLASS_EAST_WEST,
  DEFAULT_EAST_WEST_NAME,
  DEFAULT_GATEWAY_NAMESPACE,
} from './generate';
export type { PeerData, PeerView, MergeInput, MergeResult, EastWestSpec, Manifest, PeerLinkInfo } from './generate';
export { PeerPartition, peerFile } from './state';
export {
  peeringTypes,
  TERMINATION_REASONS,
  uriSans,
  GatewayHealth,
  tcpProbe,
  PROBE_INTERVAL_MS,
  PROBE_TIMEOUT_MS,
  WINDOW,
  FALL_OF,
  RISE,
  PeerCall,
} from './link';
export type { TerminationReason, PeerClientState, Probe, ProbeTarget, PeerCallOptions } from './link';
