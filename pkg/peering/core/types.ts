/**
 * Peering message shapes (protobufjs plain-object form of
 * proto/ambientd/peering/v1/peering.proto: camelCase, enums as numbers, bytes
 * as Buffer, defaults omitted) and the constants both sides agree on.
 */

export const PEERING_PROTO = 'ambientd/peering/v1/peering.proto';
const PKG = 'ambientd.peering.v1';
export const MSG = {
  FederatedService: `${PKG}.FederatedService`,
  ClusterInfo: `${PKG}.ClusterInfo`,
  PeerWorkload: `${PKG}.PeerWorkload`,
  PeerNode: `${PKG}.PeerNode`,
} as const;
export const TYPE_CLUSTER_INFO = `type.googleapis.com/${MSG.ClusterInfo}`;
export const TYPE_FEDERATED_SERVICE = `type.googleapis.com/${MSG.FederatedService}`;
export const TYPE_PEER_WORKLOAD = `type.googleapis.com/${MSG.PeerWorkload}`;
export const TYPE_PEER_NODE = `type.googleapis.com/${MSG.PeerNode}`;
/** Push order: the cluster descriptor first, then services, then per-pod/per-node data. */
export const PEERING_TYPES: readonly string[] = [
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_WORKLOAD,
  TYPE_PEER_NODE,
];
export const CLUSTER_INFO_NAME = 'cluster';

export const Takeover = { UNSET: 0, TRUE: 1, FALSE: 2 } as const;

export const CLASS_REMOTE = 'istio-remote';
export const DEFAULT_XDS_PORT = 15012;
export const DEFAULT_HBONE_PORT = 15008;
export const LISTENER_XDS = 'xds-tls';
export const LISTENER_HBONE = 'cross-network';
export const ANN_DATA_PLANE_TYPE = 'peering.solo.io/data-plane-service-type';
export const ANN_PREFERRED_DATA_PLANE_TYPE = 'peering.solo.io/preferred-data-plane-service-type';
/** Capacity buckets (powers of two, rounded down) stop here, as Solo's exporter does. */
export const MAX_CAPACITY = 2048;

export interface ServicePortMsg {
  port: number;
  targetPort?: number;
  protocol?: string;
  name?: string;
  appProtocol?: string;
}

export interface LocalityPb {
  region?: string;
  zone?: string;
  subzone?: string;
}

export interface FederatedServiceMsg {
  name: string;
  namespace: string;
  hostname: string;
  ports?: ServicePortMsg[];
  subjectAltNames?: string[];
  capacity?: number;
  trafficDistribution?: string;
  scope?: string;
  takeover?: number;
  waypoint?: { name: string; namespace: string };
  originTimeUnixMs?: number;
}

export interface EastWestGatewayMsg {
  name?: string;
  namespace?: string;
  address?: string;
  hbonePort?: number;
  xdsPort?: number;
  serviceAccount?: string;
  nodePort?: boolean;
  hboneNodePort?: number;
  locality?: LocalityPb;
}

export interface ClusterInfoMsg {
  clusterId: string;
  network?: string;
  trustDomain?: string;
  eastWestGateway?: EastWestGatewayMsg;
  softwareVersion?: string;
  originTimeUnixMs?: number;
}

export interface PortMappingsMsg {
  ports?: { servicePort?: number; targetPort?: number }[];
}

export interface PeerWorkloadMsg {
  name: string;
  namespace: string;
  addresses?: readonly Buffer[];
  serviceAccount?: string;
  trustDomain?: string;
  services?: Record<string, PortMappingsMsg>;
  locality?: LocalityPb;
  ready?: boolean;
  node?: string;
  canonicalName?: string;
  canonicalRevision?: string;
  workloadName?: string;
  originTimeUnixMs?: number;
}

export interface PeerNodeMsg {
  name: string;
  addresses?: Buffer[];
  hboneNodePort?: number;
  locality?: LocalityPb;
  originTimeUnixMs?: number;
}

/**
 * A decoded peering message gets its type from pkg/wire's decodedAs, the one place any protobufjs decode result is
 * typed (its comment says why the cast is sound): toObject (state/partition.ts DECODE_OPTS) yields plain objects of
 * exactly the .proto's shape, which the *Msg interfaces above restate.
 */
export { decodedAs } from '../../wire';

/** The reverse of decodedAs: a peering message as the plain object protobufjs's fromObject/encode take. */
export function asDecoded(m: object | undefined): Record<string, unknown> | undefined {
  return m as Record<string, unknown> | undefined;
}
