// The peering vocabulary every room reads: peering message shapes and constants (types.ts), the peers the
// registry's istio-remote Gateways declare (declare.ts), and edge validation of imported resources (validate.ts).
export { declaredPeers, localEastWest, localityOf, validatePeerGateway } from './declare';
export type { InvalidPeer, PeerDecl, PeerDeclarations, PeerGateway } from './declare';
export {
  CLASS_REMOTE,
  CLUSTER_INFO_NAME,
  DEFAULT_HBONE_PORT,
  DEFAULT_XDS_PORT,
  LISTENER_HBONE,
  LISTENER_XDS,
  MAX_CAPACITY,
  MSG,
  PEERING_PROTO,
  PEERING_TYPES,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_NODE,
  TYPE_PEER_WORKLOAD,
  Takeover,
  asDecoded,
  decodedAs,
} from './types';
export type {
  ClusterInfoMsg,
  EastWestGatewayMsg,
  FederatedServiceMsg,
  PeerNodeMsg,
  PeerWorkloadMsg,
  ServicePortMsg,
} from './types';
export { validateImported } from './validate';
