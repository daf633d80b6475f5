// Pure generators: the merge of local output with peers' data, the exports served to peers, global-service
// VIPs, and the Gateway manifests behind `ambientd expose` / `ambientd link`. Inside pkg/peering it imports core/ only.
export { Exporter, capacityBucket, explicitTakeover, exportedServices, serviceScope } from './export';
export {
  CLASS_EAST_WEST,
  DEFAULT_EAST_WEST_NAME,
  DEFAULT_GATEWAY_NAMESPACE,
  eastWestGateways,
  eastWestManifest,
  linkGateway,
  parseAddresses,
  peerInfoFromEastWest,
  remoteGateway,
  remoteGatewayName,
} from './gateway-manifests';
export type { EastWestSpec, Manifest, PeerLinkInfo } from './gateway-manifests';
export { Merger, loadBalancingFor, nodeGatewayHost, splitHorizonUid } from './merge';
export type { MergeInput, MergeResult, PeerData, PeerView } from './merge';
export type { Conflict } from './merge-types';
export { allocateVips, preferredSlot, slotToBytes } from './vip';
export { MergeStep } from './merge-step';
export type { MergeStepInput, MergeStepOptions } from './merge-step';
