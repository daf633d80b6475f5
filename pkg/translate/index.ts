/**
 * Pure translation of a registry snapshot into ztunnel's resources
 * (istio.workload.Address, istio.security.Authorization) with istiod's
 * semantics, in protobufjs plain-object form, full or incremental.
 */
export { generateLocal } from './generate';
export { AddressTable } from './address-table';
export type { PodAddress } from './address-table';
export { LocalGenerator } from './local-generator';
export type { LocalGeneration, LocalInput } from './local-generator';
export { buildContext, selectorMatches, EAST_WEST_CLASSES } from './context';
export type { Selection, TranslateContext } from './context';
export { namespaceInfo, sharedSelection } from './selection';
export { buildPodWorkload, buildWorkloadEntryWorkload, podWorkloadName } from './workload';
export { buildService, appProtocol } from './service';
export { buildEndpointSliceWorkloads } from './endpoint-slice';
export { convertAuthorizationPolicy, stringMatch } from './authz';
export { convertPeerAuthentication, peerAuthKeysFor, staticStrictPolicy, staticStrictKey } from './peer-auth';
export { msgEqual } from './equal';
export {
  TunnelProtocol,
  NetworkMode,
  WorkloadStatus,
  WorkloadType,
  AppProtocol,
  IPFamilies,
  LbScope,
  LbMode,
  LbHealthPolicy,
  AuthzScope,
  AuthzAction,
  STATIC_STRICT_POLICY,
  CONVERTED_PA_PREFIX,
  workloadUidForPod,
  workloadUidForWorkloadEntry,
  workloadUidForEndpoint,
  serviceHostname,
  serviceResourceName,
} from './types';
export type {
  MeshContext,
  LocalOutput,
  LocalDelta,
  AddressMsg,
  WorkloadMsg,
  ServiceMsg,
  AuthorizationMsg,
  NetworkAddressMsg,
  NamespacedHostnameMsg,
  GatewayAddressMsg,
  PortMsg,
  PortListMsg,
  LocalityMsg,
  LoadBalancingMsg,
  StringMatchMsg,
  ServiceAccountMatchMsg,
  SecurityAddressMsg,
  MatchMsg,
  ClauseMsg,
  RuleMsg,
} from './types';
