/** Compact model objects shared by registry, translation and peering, plus IP byte helpers. */
export { ALL_KINDS, CLUSTER_SCOPED, objectKey } from './types';
export type {
  Kind,
  StringMap,
  NamespaceObj,
  ServiceObj,
  ServicePortObj,
  ContainerPortObj,
  PodObj,
  WorkloadEntryObj,
  NodeObj,
  AuthzSource,
  AuthzOperation,
  AuthzCondition,
  AuthzRule,
  AuthorizationPolicyObj,
  MtlsMode,
  PeerAuthenticationObj,
  GatewayListenerObj,
  GatewayAddressObj,
  GatewayObj,
  EndpointSliceObj,
  EndpointSlicePortObj,
  EndpointObj,
  ModelObj,
  StringListMatch,
} from './types';
export { LABEL, ANNOTATION } from './labels';
export { ipToBytes, bytesToIp, canonicalIp, parseCidr } from './ip';
