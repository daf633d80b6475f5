/**
 * Message shapes in protobufjs plain-object form for
 * proto/istio/workload/workload.proto and proto/istio/security/authorization.proto:
 * camelCase field names, enums as numbers, bytes as Buffer, default values
 * omitted (so equal content always yields equal objects and equal bytes).
 */

export interface MeshContext {
  clusterId: string;
  network: string;
  trustDomain: string;
  /** e.g. cluster.local */
  domainSuffix: string;
  /** e.g. istio-system */
  rootNamespace: string;
}

/** istio.workload enums (ztunnel proto/workload.proto). Only values ztunnel accepts are ever emitted. */
export const TunnelProtocol = { NONE: 0, HBONE: 1 } as const;
export const NetworkMode = { STANDARD: 0, HOST_NETWORK: 1 } as const;
export const WorkloadStatus = { HEALTHY: 0, UNHEALTHY: 1 } as const;
export const WorkloadType = { DEPLOYMENT: 0, CRONJOB: 1, POD: 2, JOB: 3 } as const;
export const AppProtocol = { UNKNOWN: 0, HTTP11: 1, HTTP2: 2, GRPC: 3, TCP: 4, TLS: 5 } as const;
export const IPFamilies = { AUTOMATIC: 0, IPV4_ONLY: 1, IPV6_ONLY: 2, DUAL: 3 } as const;
export const LbScope = { REGION: 1, ZONE: 2, SUBZONE: 3, NODE: 4, CLUSTER: 5, NETWORK: 6 } as const;
export const LbMode = { UNSPECIFIED_MODE: 0, STRICT: 1, FAILOVER: 2, PASSTHROUGH: 3 } as const;
export const LbHealthPolicy = { ONLY_HEALTHY: 0, ALLOW_ALL: 1 } as const;
/** istio.security enums (ztunnel proto/authorization.proto). */
export const AuthzScope = { GLOBAL: 0, NAMESPACE: 1, WORKLOAD_SELECTOR: 2 } as const;
export const AuthzAction = { ALLOW: 0, DENY: 1 } as const;

export interface NetworkAddressMsg {
  network?: string;
  address: Buffer;
  length?: number;
}

export interface NamespacedHostnameMsg {
  namespace: string;
  hostname: string;
}

export interface GatewayAddressMsg {
  hostname?: NamespacedHostnameMsg;
  address?: NetworkAddressMsg;
  hboneMtlsPort?: number;
}

export interface PortMsg {
  servicePort?: number;
  targetPort?: number;
  appProtocol?: number;
}

export interface PortListMsg {
  ports?: PortMsg[];
}

export interface LocalityMsg {
  region?: string;
  zone?: string;
  subzone?: string;
}

export interface WorkloadMsg {
  uid: string;
  name?: string;
  namespace?: string;
  addresses?: readonly Buffer[];
  hostname?: string;
  network?: string;
  tunnelProtocol?: number;
  trustDomain?: string;
  serviceAccount?: string;
  waypoint?: GatewayAddressMsg;
  networkGateway?: GatewayAddressMsg;
  node?: string;
  canonicalName?: string;
  canonicalRevision?: string;
  workloadType?: number;
  workloadName?: string;
  nativeTunnel?: boolean;
  services?: Record<string, PortListMsg>;
  authorizationPolicies?: readonly string[];
  status?: number;
  clusterId?: string;
  locality?: LocalityMsg;
  networkMode?: number;
  capacity?: { value: number };
}

export interface LoadBalancingMsg {
  routingPreference?: number[];
  mode?: number;
  healthPolicy?: number;
}

export interface ServiceMsg {
  name?: string;
  namespace?: string;
  hostname?: string;
  addresses?: NetworkAddressMsg[];
  ports?: PortMsg[];
  subjectAltNames?: string[];
  waypoint?: GatewayAddressMsg;
  loadBalancing?: LoadBalancingMsg;
  ipFamilies?: number;
  canonical?: boolean;
}

export type AddressMsg = { workload: WorkloadMsg } | { service: ServiceMsg };

export interface StringMatchMsg {
  exact?: string;
  prefix?: string;
  suffix?: string;
  presence?: Record<string, never>;
}

export interface ServiceAccountMatchMsg {
  namespace?: string;
  serviceAccount?: string;
}

export interface SecurityAddressMsg {
  address: Buffer;
  length?: number;
}

export interface MatchMsg {
  namespaces?: StringMatchMsg[];
  notNamespaces?: StringMatchMsg[];
  serviceAccounts?: ServiceAccountMatchMsg[];
  notServiceAccounts?: ServiceAccountMatchMsg[];
  principals?: StringMatchMsg[];
  notPrincipals?: StringMatchMsg[];
  sourceIps?: SecurityAddressMsg[];
  notSourceIps?: SecurityAddressMsg[];
  destinationIps?: SecurityAddressMsg[];
  notDestinationIps?: SecurityAddressMsg[];
  destinationPorts?: number[];
  notDestinationPorts?: number[];
}

export interface ClauseMsg {
  matches?: MatchMsg[];
}

export interface RuleMsg {
  clauses?: ClauseMsg[];
}

export interface AuthorizationMsg {
  name: string;
  namespace: string;
  scope?: number;
  action?: number;
  rules?: RuleMsg[];
  dryRun?: boolean;
}

export interface LocalOutput {
  /** Resource name (Workload uid, or "ns/hostname" for a Service) -> Address. */
  readonly addresses: ReadonlyMap<string, AddressMsg>;
  /** Resource name "ns/name" -> Authorization. */
  readonly authorizations: ReadonlyMap<string, AuthorizationMsg>;
  /**
   * EndpointSlice key "ns/name" -> uids of the workloads built from it, so an
   * incremental generation can withdraw a slice's old endpoints without
   * scanning every address. Optional: outputs built elsewhere may omit it
   * (an incremental call then falls back to a prefix scan).
   */
  readonly endpointSliceUids?: ReadonlyMap<string, readonly string[]>;
  /**
   * The lookups this output was built with (a TranslateContext), for the
   * next incremental generation to reuse when their sources did not change.
   * Opaque to everyone else.
   */
  readonly context?: unknown;
}

export interface LocalDelta {
  output: LocalOutput;
  changedAddresses: ReadonlySet<string>;
  removedAddresses: ReadonlySet<string>;
  changedAuthorizations: ReadonlySet<string>;
  removedAuthorizations: ReadonlySet<string>;
}

/** Resource names as istiod forms them (pilot/pkg/model/service.go): a Workload's name is its uid. */
export function workloadUidForPod(clusterId: string, ns: string, name: string): string {
  return `${clusterId}//Pod/${ns}/${name}`;
}

export function workloadUidForWorkloadEntry(clusterId: string, ns: string, name: string): string {
  return `${clusterId}/networking.istio.io/WorkloadEntry/${ns}/${name}`;
}

/**
 * istiod's uid for a workload built from an EndpointSlice endpoint: keyed by the endpoint's first address as written.
 */
export function workloadUidForEndpoint(clusterId: string, ns: string, slice: string, address: string): string {
  return `${clusterId}/discovery.k8s.io/EndpointSlice/${ns}/${slice}/${address}`;
}

export function serviceHostname(name: string, ns: string, domainSuffix: string): string {
  return `${name}.${ns}.svc.${domainSuffix}`;
}

export function serviceResourceName(name: string, ns: string, domainSuffix: string): string {
  return `${ns}/${serviceHostname(name, ns, domainSuffix)}`;
}

export const STATIC_STRICT_POLICY = 'istio_converted_static_strict';
export const CONVERTED_PA_PREFIX = 'converted_peer_authentication_';
