import * as net from 'node:net';
import { LABEL, ANNOTATION, ipToBytes } from '../model';
import type { GatewayObj, StringMap } from '../model';
import type { RegistrySnapshot } from '../registry';
import type { LocalityMsg } from '../translate';
import { EAST_WEST_CLASSES } from '../translate';
import {
  ANN_DATA_PLANE_TYPE, ANN_HBONE_NODE_PORT, ANN_NODE_ADDRESSES, ANN_PREFERRED_DATA_PLANE_TYPE, CLASS_REMOTE,
  DEFAULT_HBONE_PORT, DEFAULT_XDS_PORT, LISTENER_HBONE, LISTENER_XDS,
} from './types';
import type { EastWestGatewayMsg } from './types';

/** Overrides the peer daemon's expected ns/sa (default cfg.peering.peerIdentity). */
export const ANN_PEER_IDENTITY = 'peering.ambientd.io/peer-identity';

/** One valid istio-remote Gateway: a peer this cluster dials and imports from (peering-model.md §1.2). */
export interface PeerDecl {
  /** Gateway "ns/name". */
  readonly key: string;
  readonly gatewayName: string;
  readonly gatewayNamespace: string;
  readonly cluster: string;
  readonly network: string;
  readonly address: { readonly type: 'IPAddress' | 'Hostname'; readonly value: string };
  readonly xdsPort: number;
  readonly hbonePort: number;
  readonly trustDomain: string;
  /** SPIFFE id the peer daemon's serving certificate must carry. */
  readonly peerSpiffeId: string;
  /** Service account of the peer's east-west gateway (data-plane identity). */
  readonly gatewayServiceAccount: string;
  readonly nodePort: boolean;
  readonly locality?: LocalityMsg;
  /** Everything that needs a new connection when it changes. */
  readonly connKey: string;
}

export interface InvalidPeer {
  key: string;
  cluster?: string;
  reason: string;
}

export interface PeerDeclarations {
  peers: PeerDecl[];
  invalid: InvalidPeer[];
  /** Gateways naming our own cluster (ignored, logged). */
  self: string[];
  /** Later Gateways for an already-declared cluster (warned, ignored). */
  duplicates: { key: string; cluster: string; kept: string }[];
}

export function localityOf(labels: StringMap): LocalityMsg | undefined {
  const l: LocalityMsg = {};
  if (labels[LABEL.region]) l.region = labels[LABEL.region]!;
  if (labels[LABEL.zone]) l.zone = labels[LABEL.zone]!;
  if (labels[LABEL.subzone]) l.subzone = labels[LABEL.subzone]!;
  return Object.keys(l).length > 0 ? l : undefined;
}

const isNodePort = (v: string | undefined): boolean => (v ?? '').toLowerCase() === 'nodeport';
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** ValidatePeerGateway rules (peering-model.md §1.2) plus address and identity sanity. */
export function validatePeerGateway(
  gw: GatewayObj,
  opts: { localTrustDomain: string; peerIdentity: string },
): PeerDecl | { reason: string; cluster?: string } {
  if (gw.gatewayClassName !== CLASS_REMOTE) return { reason: `gatewayClassName is ${gw.gatewayClassName}, not ${CLASS_REMOTE}` };
  const network = gw.labels[LABEL.network] ?? '';
  if (!network) return { reason: `label ${LABEL.network} is required` };
  const cluster = gw.labels[LABEL.cluster] || network;
  const first = gw.addresses[0];
  if (!first) {
    return gw.statusAddresses.length > 0
      ? { cluster, reason: 'spec.addresses is empty (an address only in status.addresses is not used for peering)' }
      : { cluster, reason: 'spec.addresses is required' };
  }
  const nodePort = isNodePort(gw.annotations[ANN_PREFERRED_DATA_PLANE_TYPE]);
  if (nodePort && (!gw.annotations[ANNOTATION.gatewayServiceAccount] || !gw.labels[LABEL.cluster])) {
    return { cluster, reason: `${ANN_PREFERRED_DATA_PLANE_TYPE}=nodeport needs the ${ANNOTATION.gatewayServiceAccount} annotation and the ${LABEL.cluster} label` };
  }
  let address: PeerDecl['address'];
  if (first.type === 'Hostname') {
    if (!DNS_NAME.test(first.value)) return { cluster, reason: `spec.addresses[0] "${first.value}" is not a valid hostname` };
    address = { type: 'Hostname', value: first.value };
  } else if (first.type === 'IPAddress' || first.type === '') {
    if (!net.isIP(first.value)) return { cluster, reason: `spec.addresses[0] "${first.value}" is not a valid IP address` };
    address = { type: 'IPAddress', value: first.value };
  } else {
    return { cluster, reason: `spec.addresses[0] has unsupported type ${first.type}` };
  }
  const xds = gw.listeners.find((l) => l.name === LISTENER_XDS);
  const hbone = gw.listeners.find((l) => l.name === LISTENER_HBONE);
  const trustDomain = gw.annotations[ANNOTATION.gatewayTrustDomain] || opts.localTrustDomain;
  if (!/^[a-z0-9.-]+$/i.test(trustDomain)) return { cluster, reason: `trust domain "${trustDomain}" is not valid` };
  const ident = gw.annotations[ANN_PEER_IDENTITY] || opts.peerIdentity;
  const m = /^([a-z0-9.-]+)\/([a-z0-9.-]+)$/i.exec(ident);
  if (!m) return { cluster, reason: `peer identity "${ident}" is not <namespace>/<serviceaccount>` };
  const peerSpiffeId = `spiffe://${trustDomain}/ns/${m[1]}/sa/${m[2]}`;
  const decl = {
    key: `${gw.namespace}/${gw.name}`,
    gatewayName: gw.name,
    gatewayNamespace: gw.namespace,
    cluster,
    network,
    address,
    xdsPort: xds?.port ?? DEFAULT_XDS_PORT,
    hbonePort: hbone?.port ?? DEFAULT_HBONE_PORT,
    trustDomain,
    peerSpiffeId,
    gatewayServiceAccount: gw.annotations[ANNOTATION.gatewayServiceAccount] || 'istio-eastwest',
    nodePort,
    locality: localityOf(gw.labels),
  };
  return { ...decl, connKey: JSON.stringify([cluster, network, address, decl.xdsPort, trustDomain, peerSpiffeId, nodePort]) };
}

/** All istio-remote Gateways of a snapshot, sorted by ns/name so duplicates resolve the same way every time. */
export function declaredPeers(
  snapshot: RegistrySnapshot,
  opts: { localCluster: string; localTrustDomain: string; peerIdentity: string },
): PeerDeclarations {
  const out: PeerDeclarations = { peers: [], invalid: [], self: [], duplicates: [] };
  const gws = [...snapshot.gateways.values()].filter((g) => g.gatewayClassName === CLASS_REMOTE);
  gws.sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  const byCluster = new Map<string, PeerDecl>();
  for (const gw of gws) {
    const key = `${gw.namespace}/${gw.name}`;
    const r = validatePeerGateway(gw, opts);
    if (!('key' in r)) {
      out.invalid.push({ key, reason: r.reason, cluster: r.cluster });
      continue;
    }
    if (r.cluster === opts.localCluster) {
      out.self.push(key);
      continue;
    }
    const kept = byCluster.get(r.cluster);
    if (kept) {
      out.duplicates.push({ key, cluster: r.cluster, kept: kept.key });
      continue;
    }
    byCluster.set(r.cluster, r);
    out.peers.push(r);
  }
  return out;
}

/** The local east-west gateway (first by ns/name) as exported in ClusterInfo. */
export function localEastWest(snapshot: RegistrySnapshot): { msg: EastWestGatewayMsg; nodes: { name: string; addresses: Buffer[] }[] } | undefined {
  const gws = [...snapshot.gateways.values()].filter((g) => EAST_WEST_CLASSES.has(g.gatewayClassName));
  if (gws.length === 0) return undefined;
  gws.sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  const gw = gws[0]!;
  const msg: EastWestGatewayMsg = { name: gw.name, namespace: gw.namespace };
  const addr = gw.addresses[0] ?? gw.statusAddresses[0];
  if (addr) msg.address = addr.value;
  const hbone = gw.listeners.find((l) => l.protocol.toUpperCase() === 'HBONE' || l.name === LISTENER_HBONE || l.port === DEFAULT_HBONE_PORT);
  msg.hbonePort = hbone?.port ?? DEFAULT_HBONE_PORT;
  const xds = gw.listeners.find((l) => l.name === LISTENER_XDS || l.port === DEFAULT_XDS_PORT);
  msg.xdsPort = xds?.port ?? DEFAULT_XDS_PORT;
  msg.serviceAccount = gw.annotations[ANNOTATION.gatewayServiceAccount] || gw.name;
  const nodes: { name: string; addresses: Buffer[] }[] = [];
  if (isNodePort(gw.annotations[ANN_DATA_PLANE_TYPE])) {
    msg.nodePort = true;
    const p = Number(gw.annotations[ANN_HBONE_NODE_PORT]);
    if (Number.isInteger(p) && p > 0 && p < 65536) msg.hboneNodePort = p;
    for (const part of (gw.annotations[ANN_NODE_ADDRESSES] ?? '').split(',')) {
      const [name, ips] = part.split('=');
      if (!name?.trim() || !ips) continue;
      const addresses = ips.split(';').map((s) => ipToBytes(s.trim())).filter((b): b is Buffer => b !== undefined);
      if (addresses.length > 0) nodes.push({ name: name.trim(), addresses });
    }
    nodes.sort((a, b) => cmp(a.name, b.name));
  }
  const loc = localityOf(gw.labels);
  if (loc) msg.locality = loc;
  return { msg, nodes };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
