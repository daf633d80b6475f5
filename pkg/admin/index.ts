export { AdminServer, createAdmin, adminWithLogger } from './admin';
export type { AdminOptions } from './admin';
export {
  buildConfigDump,
  workloadJson,
  serviceJson,
  policyJson,
  ADDRESS_TYPE,
  AUTHORIZATION_TYPE,
} from './config-dump';
export type { ZtunnelDump } from './config-dump';
export { normalisePeer } from './peers';
export type { PeerReport, PeerCondition, PeerConflict, ConditionStatus } from './peers';
export { bearerMatches } from './bearer';
export { DEBUG_ROUTES } from './debug';
export type {
  AdminDaemonView,
  AuthorityView,
  AuthorityInfoView,
  CacheView,
  CacheEntryView,
  CertSummaryView,
  PeeringView,
  Readiness,
  RegistryView,
  RegistrySnapshotView,
  ServingView,
  StreamStatusView,
  TypeStatusView,
  WireView,
  XdsView,
} from './views';
