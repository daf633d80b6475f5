export {
  inClusterConfig,
  loadKubeconfig,
  kubeconfigFromObject,
  resolveClientConfig,
  SERVICE_ACCOUNT_DIR,
} from './config';
export type { KubeClientConfig, InClusterOptions, ClientConfigOptions } from './config';
export { KubeClient, KubeApiError, apiErrorFrom, buildPath, lineStream } from './client';
export type { KubeApi, KubeResponse, LineStream, Query, RequestOptions } from './client';
export { KINDS, DEFAULT_KINDS, slim, collectionPath, crdName, sourceIdOf, apiVersionOf } from './kinds';
export type { KindSpec } from './kinds';
export { createKubeMetrics } from './metrics';
export type { KubeMetrics } from './metrics';
export { Reflector } from './reflector';
export type { RegistrySink, ReflectorOptions, ReflectorState, ReflectorStatus } from './reflector';
export { KubeSource, CRD_KIND } from './source';
export type { KubeSourceOptions } from './source';
export { LeaderElector } from './lease';
export type { LeaderElectorOptions } from './lease';
export { GatewayStatusWriter, mergeConditions } from './gateway-status';
export type {
  ConditionStatus,
  PeerCondition,
  PeerGatewayStatus,
  PeerStatusProvider,
  WriterElection,
  GatewayStatusWriterOptions,
} from './gateway-status';
export { discoverServiceAccountIssuer, KubeJwksProvider, OIDC_DISCOVERY_PATH, JWKS_PATH } from './jwks';
export type { JwksProvider, ServiceAccountIssuer, KubeJwksProviderOptions } from './jwks';
