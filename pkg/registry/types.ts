import type {
  AuthorizationPolicyObj,
  EndpointSliceObj,
  GatewayObj,
  Kind,
  ModelObj,
  NamespaceObj,
  NodeObj,
  PeerAuthenticationObj,
  PodObj,
  ServiceObj,
  WorkloadEntryObj,
} from '../model';
import type { RawObject } from './normalize';

export interface RegistryEvent {
  type: 'upsert' | 'delete';
  obj: RawObject;
  /** Where it came from, e.g. "file.yaml#3"; used in reject reasons. */
  origin?: string;
}

export interface Rejection {
  kind: string;
  key: string;
  origin?: string;
  reason: string;
}

/** kind -> keys ("ns/name", or "name" for cluster-scoped) that were added, updated or deleted. */
export interface ChangeSet {
  readonly byKind: ReadonlyMap<Kind, ReadonlySet<string>>;
}

/** Immutable; maps share structure with later snapshots, so taking one is cheap. */
export interface RegistrySnapshot {
  readonly version: number;
  readonly namespaces: ReadonlyMap<string, NamespaceObj>;
  readonly services: ReadonlyMap<string, ServiceObj>;
  readonly pods: ReadonlyMap<string, PodObj>;
  readonly workloadEntries: ReadonlyMap<string, WorkloadEntryObj>;
  readonly nodes: ReadonlyMap<string, NodeObj>;
  readonly authorizationPolicies: ReadonlyMap<string, AuthorizationPolicyObj>;
  readonly peerAuthentications: ReadonlyMap<string, PeerAuthenticationObj>;
  readonly gateways: ReadonlyMap<string, GatewayObj>;
  /** Slices of Services, slimmed to their non-Pod endpoints (see EndpointSliceObj). */
  readonly endpointSlices: ReadonlyMap<string, EndpointSliceObj>;
  readonly rejected: readonly Rejection[];
  /** Pod keys by namespace; optional so hand-built snapshots (tests) may omit it. */
  readonly podsByNamespace?: ReadonlyMap<string, ReadonlySet<string>>;
  /** WorkloadEntry keys by namespace; optional like podsByNamespace. */
  readonly workloadEntriesByNamespace?: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Snapshot field holding each kind. */
export const SNAPSHOT_FIELD: Readonly<
  Record<Kind, keyof Omit<RegistrySnapshot, 'version' | 'rejected' | 'podsByNamespace' | 'workloadEntriesByNamespace'>>
> = {
  Namespace: 'namespaces',
  Service: 'services',
  Pod: 'pods',
  WorkloadEntry: 'workloadEntries',
  Node: 'nodes',
  AuthorizationPolicy: 'authorizationPolicies',
  PeerAuthentication: 'peerAuthentications',
  Gateway: 'gateways',
  EndpointSlice: 'endpointSlices',
};

/** Looks an object up by kind in a snapshot. */
export function snapshotGet(s: RegistrySnapshot, kind: Kind, key: string): ModelObj | undefined {
  return (s[SNAPSHOT_FIELD[kind]] as ReadonlyMap<string, ModelObj>).get(key);
}
