/**
 * Compact, normalised mesh objects. The registry turns raw Kubernetes objects
 * into these, keeping only what translation and peering read, so that a
 * 50k-pod registry stays small. All model objects are deeply frozen by the
 * registry and shared between snapshots; never mutate them.
 */

export type Kind =
  | 'Namespace'
  | 'Service'
  | 'Pod'
  | 'WorkloadEntry'
  | 'Node'
  | 'AuthorizationPolicy'
  | 'PeerAuthentication'
  | 'Gateway'
  | 'EndpointSlice';

export const ALL_KINDS: readonly Kind[] = [
  'Namespace',
  'Service',
  'Pod',
  'WorkloadEntry',
  'Node',
  'AuthorizationPolicy',
  'PeerAuthentication',
  'Gateway',
  'EndpointSlice',
];

/** Kinds without a namespace; their key is just the name. */
export const CLUSTER_SCOPED: ReadonlySet<Kind> = new Set<Kind>(['Namespace', 'Node']);

export type StringMap = Readonly<Record<string, string>>;

export interface NamespaceObj {
  readonly kind: 'Namespace';
  readonly name: string;
  readonly labels: StringMap;
}

export interface ServicePortObj {
  readonly name?: string;
  readonly port: number;
  /** Numeric target port, or a container-port name to resolve per workload. */
  readonly targetPort: number | string;
  readonly protocol: string;
  readonly appProtocol?: string;
  /** spec.ports[].nodePort (NodePort/LoadBalancer Services): the peering export's HBONE nodePort. */
  readonly nodePort?: number;
}

export interface ServiceObj {
  readonly kind: 'Service';
  readonly name: string;
  readonly namespace: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** undefined = no selector (endpoints managed elsewhere); {} never occurs (normalised to undefined). */
  readonly selector?: StringMap;
  readonly type: string;
  /** Parsed cluster IPs; empty for headless (clusterIP None) services. */
  readonly clusterIPs: readonly string[];
  readonly ports: readonly ServicePortObj[];
  readonly trafficDistribution?: string;
  readonly internalTrafficPolicy?: string;
  readonly publishNotReadyAddresses: boolean;
  readonly ipFamilies: readonly string[];
  readonly ipFamilyPolicy?: string;
}

export interface ContainerPortObj {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
}

export interface PodObj {
  readonly kind: 'Pod';
  readonly name: string;
  readonly namespace: string;
  readonly labels: StringMap;
  /** Only the annotations translation reads (see registry normalise). */
  readonly annotations: StringMap;
  readonly ips: readonly string[];
  /**
   * `ips` as 4/16-byte addresses, same order (Workload.addresses), when the
   * registry's normalisation made them (it parses every IP to bytes to
   * canonicalise it). Non-enumerable: derived from `ips`, so object equality,
   * printing and copies see the fields above only; a copy without it is
   * translated from `ips`. Shared by every translation of this object: never
   * written.
   */
  readonly ipBytes?: readonly Buffer[];
  readonly nodeName?: string;
  readonly serviceAccount: string;
  readonly hostNetwork: boolean;
  readonly phase: string;
  readonly ready: boolean;
  readonly deleting: boolean;
  /** Named container ports only (unnamed ones can never resolve a named targetPort). */
  readonly namedPorts: readonly ContainerPortObj[];
  /** The controller owner reference (controller: true), if any. */
  readonly owner?: { readonly kind: string; readonly name: string };
  readonly generateName?: string;
}

export interface WorkloadEntryObj {
  readonly kind: 'WorkloadEntry';
  readonly name: string;
  readonly namespace: string;
  /** metadata.labels merged with spec.labels (spec wins), which is what selectors match. */
  readonly labels: StringMap;
  readonly annotations: StringMap;
  readonly address?: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly network?: string;
  readonly locality?: string;
  readonly weight?: number;
  readonly serviceAccount: string;
}

export interface NodeObj {
  readonly kind: 'Node';
  readonly name: string;
  /** Topology labels only. */
  readonly labels: StringMap;
  /**
   * status.addresses of type InternalIP / ExternalIP (canonical IPs, API order):
   * the peering export's NodePort data-plane addresses. Absent when none.
   */
  readonly addresses?: readonly { readonly type: 'InternalIP' | 'ExternalIP'; readonly address: string }[];
}

export interface StringListMatch {
  readonly values: readonly string[];
}

export interface AuthzSource {
  readonly trustDomains?: readonly string[];
  readonly notTrustDomains?: readonly string[];
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
}

export interface AuthzOperation {
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthzRule {
  readonly from: readonly AuthzSource[];
  readonly to: readonly AuthzOperation[];
  readonly when: readonly AuthzCondition[];
}

export interface AuthorizationPolicyObj {
  readonly kind: 'AuthorizationPolicy';
  readonly name: string;
  readonly namespace: string;
  readonly selector?: StringMap;
  readonly hasTargetRef: boolean;
  readonly action: string;
  /** undefined = spec.rules absent (distinct from []). */
  readonly rules?: readonly AuthzRule[];
  readonly dryRun: boolean;
}

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationObj {
  readonly kind: 'PeerAuthentication';
  readonly name: string;
  readonly namespace: string;
  readonly selector?: StringMap;
  readonly mode: MtlsMode;
  /** metadata.creationTimestamp; the oldest policy wins a tie at one level (istiod rule). */
  readonly creationTimestamp?: string;
  readonly portLevelMtls?: Readonly<Record<string, MtlsMode>>;
}

export interface GatewayListenerObj {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
}

export interface GatewayAddressObj {
  /** IPAddress | Hostname (Gateway API default IPAddress). */
  readonly type: string;
  readonly value: string;
}

export interface GatewayObj {
  readonly kind: 'Gateway';
  readonly name: string;
  readonly namespace: string;
  readonly gatewayClassName: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  readonly addresses: readonly GatewayAddressObj[];
  readonly statusAddresses: readonly GatewayAddressObj[];
  readonly listeners: readonly GatewayListenerObj[];
  /** metadata.generation (0 or absent when unknown, e.g. file registry): observedGeneration for written-back status. */
  readonly generation?: number;
}

export interface EndpointSlicePortObj {
  /** The Service port name this slice port serves ('' when unnamed; the API server defaults a missing name to ''). */
  readonly name: string;
  /** The endpoints' port (the Service's target port); absent = all ports. */
  readonly port?: number;
  /** TCP | UDP | SCTP (the API server defaults a missing protocol to TCP). */
  readonly protocol: string;
}

export interface EndpointObj {
  /** Canonical IPs. */
  readonly addresses: readonly string[];
  /** The first address as written: istiod keys the endpoint's workload uid by it. */
  readonly key: string;
  /** conditions.ready; absent counts as ready (Kubernetes: "unknown state ... interpreted as ready"). */
  readonly ready: boolean;
}

export interface EndpointSliceObj {
  readonly kind: 'EndpointSlice';
  readonly name: string;
  readonly namespace: string;
  /** The kubernetes.io/service-name label; absent = not a Service's slice (translation ignores it). */
  readonly serviceName?: string;
  /** IPv4 | IPv6 | FQDN. */
  readonly addressType: string;
  readonly ports: readonly EndpointSlicePortObj[];
  /**
   * Only the endpoints not backed by a Pod, and only for IP slices of a
   * Service: a Pod-backed endpoint is served by the Pod's own workload, so
   * keeping the controller-managed entries would cost memory for nothing.
   */
  readonly endpoints: readonly EndpointObj[];
  /**
   * "ns/name" of the Pods this slice lists (targetRef kind Pod, same
   * namespace), kept only for slices the endpointslice controller does not
   * manage: such a slice adds its Service to those Pods' workloads (istiod's
   * matchingServicesWithoutSelectors). Controller-managed slices list exactly
   * the Pods their Service's selector already matches, so theirs are dropped.
   */
  readonly podRefs?: readonly string[];
}

export type ModelObj =
  | NamespaceObj
  | ServiceObj
  | PodObj
  | WorkloadEntryObj
  | NodeObj
  | AuthorizationPolicyObj
  | PeerAuthenticationObj
  | GatewayObj
  | EndpointSliceObj;

/** Registry key of an object: "ns/name", or "name" for cluster-scoped kinds. */
export function objectKey(obj: { kind: Kind; name: string; namespace?: string }): string {
  return CLUSTER_SCOPED.has(obj.kind) ? obj.name : `${obj.namespace}/${obj.name}`;
}
