/** Compact model objects shared by registry, translation and peering, plus IP byte helpers. */
import { LABEL as LABELS, ANNOTATION as ANNOTATIONS } from './labels';

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
// Exported as values, not re-exported: tsc compiles `export { X } from` to a getter on this module, and every use of
// a named import elsewhere reads it again (`model_1.LABEL`), so translation called the getter for each label of
// each pod (2.9 % of a full translation's samples, docs/design/translate-floor.md, session 16).
export const LABEL = LABELS;
export const ANNOTATION = ANNOTATIONS;
export { ipToBytes, ipv4Value, bytesToIp, canonicalIp, parseCidr } from './ip';
