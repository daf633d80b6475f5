import {
  decodedAs,
  MAX_CAPACITY,
  CLUSTER_INFO_NAME,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_NODE,
  TYPE_PEER_WORKLOAD,
} from './types';
import type { ClusterInfoMsg, FederatedServiceMsg, PeerNodeMsg, PeerWorkloadMsg } from './types';

/**
 * Edge validation of imported resources: a resource that fails is rejected
 * (NACKed by name) and the last good copy is kept. Returns a reason or undefined.
 */
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TDS = new Set(['', 'PreferNetwork', 'PreferRegion', 'PreferClose', 'Any', 'PreferSameZone', 'PreferSameNode']);

const port = (p: unknown, allowZero = false): boolean =>
  typeof p === 'number' && Number.isInteger(p) && p <= 65535 && (allowZero ? p >= 0 : p >= 1);
const ipOk = (b: unknown): boolean => b instanceof Uint8Array && (b.length === 4 || b.length === 16);

export function validateFederatedService(name: string, m: FederatedServiceMsg): string | undefined {
  if (!LABEL_RE.test(m.name ?? '')) return `name "${m.name ?? ''}" is not a DNS label`;
  if (!LABEL_RE.test(m.namespace ?? '')) return `namespace "${m.namespace ?? ''}" is not a DNS label`;
  if (name !== `${m.namespace}/${m.name}`) return `resource name ${name} does not match ${m.namespace}/${m.name}`;
  const seen = new Set<number>();
  for (const p of m.ports ?? []) {
    if (!port(p.port)) return `port ${String(p.port)} out of range`;
    if (p.targetPort !== undefined && !port(p.targetPort, true))
      return `targetPort ${String(p.targetPort)} out of range`;
    if (seen.has(p.port)) return `duplicate port ${p.port}`;
    seen.add(p.port);
  }
  const cap = m.capacity ?? 0;
  if (cap > MAX_CAPACITY || (cap & (cap - 1)) !== 0)
    return `capacity ${cap} is not a bucket (power of two <= ${MAX_CAPACITY})`;
  for (const s of m.subjectAltNames ?? [])
    if (!s.startsWith('spiffe://')) return `subject alt name "${s.slice(0, 100)}" is not a SPIFFE id`;
  if (!TDS.has(m.trafficDistribution ?? '')) return `unknown traffic distribution "${m.trafficDistribution}"`;
  if (m.scope && !['global', 'global-only'].includes(m.scope)) return `scope "${m.scope}" is not exported`;
  return undefined;
}

export function validateClusterInfo(name: string, m: ClusterInfoMsg, expect: { cluster: string }): string | undefined {
  if (name !== CLUSTER_INFO_NAME) return `unexpected resource name ${name}`;
  if (m.clusterId !== expect.cluster)
    return `peer says it is cluster "${m.clusterId ?? ''}", the Gateway declares "${expect.cluster}"`;
  const gw = m.eastWestGateway;
  if (gw?.hboneNodePort !== undefined && !port(gw.hboneNodePort, true))
    return 'eastWestGateway.hboneNodePort out of range';
  return undefined;
}

export function validatePeerWorkload(name: string, m: PeerWorkloadMsg): string | undefined {
  if (name !== `${m.namespace}/${m.name}`) return `resource name ${name} does not match ${m.namespace}/${m.name}`;
  if (!m.addresses || m.addresses.length === 0) return 'no addresses';
  for (const a of m.addresses) if (!ipOk(a)) return 'address is not a 4- or 16-byte IP';
  for (const [k, v] of Object.entries(m.services ?? {})) {
    const parts = k.split('/');
    if (parts.length !== 2 || !LABEL_RE.test(parts[0]!) || !LABEL_RE.test(parts[1]!))
      return `service key "${k}" is not <namespace>/<name>`;
    for (const p of v.ports ?? [])
      if (!port(p.servicePort) || !port(p.targetPort ?? 0, true)) return `service ${k} has a port out of range`;
  }
  return undefined;
}

export function validatePeerNode(name: string, m: PeerNodeMsg): string | undefined {
  if (name !== m.name || !m.name) return `resource name ${name} does not match node ${m.name ?? ''}`;
  if (!m.addresses || m.addresses.length === 0) return 'no addresses';
  for (const a of m.addresses) if (!ipOk(a)) return 'address is not a 4- or 16-byte IP';
  if (!port(m.hboneNodePort)) return 'hboneNodePort out of range';
  return undefined;
}

export function validateImported(
  typeUrl: string,
  name: string,
  m: Record<string, unknown>,
  expect: { cluster: string },
): string | undefined {
  switch (typeUrl) {
    case TYPE_FEDERATED_SERVICE:
      return validateFederatedService(name, decodedAs<FederatedServiceMsg>(m));
    case TYPE_CLUSTER_INFO:
      return validateClusterInfo(name, decodedAs<ClusterInfoMsg>(m), expect);
    case TYPE_PEER_WORKLOAD:
      return validatePeerWorkload(name, decodedAs<PeerWorkloadMsg>(m));
    case TYPE_PEER_NODE:
      return validatePeerNode(name, decodedAs<PeerNodeMsg>(m));
    default:
      return `unexpected type ${typeUrl}`;
  }
}
