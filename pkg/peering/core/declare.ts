import * as net from 'node:net';
import { LABEL, ANNOTATION, ipToBytes } from '../../model';
import type { GatewayObj, ServiceObj, StringMap } from '../../model';
import type { RegistrySnapshot } from '../../registry';
import type { LocalityMsg } from '../../translate';
import { EAST_WEST_CLASSES } from '../../translate';
import {
  ANN_DATA_PLANE_TYPE,
  ANN_PREFERRED_DATA_PLANE_TYPE,
  CLASS_REMOTE,
  DEFAULT_HBONE_PORT,
  DEFAULT_XDS_PORT,
  LISTENER_HBONE,
  LISTENER_XDS,
} from './types';
import type { EastWestGatewayMsg } from './types';

/** Overrides the peer daemon's expected ns/sa (default cfg.peering.peerIdentity). */
export const ANN_PEER_IDENTITY = 'peering.ambientd.io/peer-identity';

/** One valid istio-remote Gateway: a peer this cluster dials and imports from (docs/design/peering-model.md). */
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
  /**
   * Every gateway of the peer, in declaration order: each spec.addresses entry
   * of each istio-remote Gateway naming this cluster. The first is the one the
   * fields above describe; the control-plane link fails over between them and
   * the data plane spreads over the healthy ones.
   */
  readonly gateways: readonly PeerGateway[];
  /** The subset the data plane uses now (health-checked); absent = `gateways`. Set by the layer, not declared. */
  readonly dataGateways?: readonly PeerGateway[];
  /** Everything that needs a new connection when it changes. */
  readonly connKey: string;
}

/** One reachable address of one of a peer's gateways. */
export interface PeerGateway {
  /** `<gateway ns/name>|<address>`: stable identity for health and workload names. */
  readonly id: string;
  /** Gateway "ns/name". */
  readonly key: string;
  readonly gatewayName: string;
  readonly gatewayNamespace: string;
  /** Index of the address in its Gateway's spec.addresses. */
  readonly index: number;
  readonly address: { readonly type: 'IPAddress' | 'Hostname'; readonly value: string };
  readonly xdsPort: number;
  readonly hbonePort: number;
  readonly locality?: LocalityMsg;
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
  /** Later Gateways for an already-declared cluster that disagree with it (warned, ignored). */
  duplicates: { key: string; cluster: string; kept: string; reason?: string }[];
  /** Later Gateways for an already-declared cluster that agree with it: more gateways of that peer. */
  joined?: { key: string; cluster: string; kept: string }[];
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

/** Solo's ValidatePeerGateway rules (docs/design/peering-model.md, Peer gateway) plus address and identity sanity. */
export function validatePeerGateway(
  gw: GatewayObj,
  opts: {
    localTrustDomain: string;
    peerIdentity: string;
    /** Trust domains with roots (the local one and peering.trustBundles keys); unset = any. */
    trustDomains?: readonly string[];
  },
): PeerDecl | { reason: string; cluster?: string } {
  if (gw.gatewayClassName !== CLASS_REMOTE)
    return { reason: `gatewayClassName is ${gw.gatewayClassName}, not ${CLASS_REMOTE}` };
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
    return {
      cluster,
      reason:
        `${ANN_PREFERRED_DATA_PLANE_TYPE}=nodeport needs the ${ANNOTATION.gatewayServiceAccount} annotation ` +
        `and the ${LABEL.cluster} label`,
    };
  }
  const addresses: PeerDecl['address'][] = [];
  for (const [i, a] of gw.addresses.entries()) {
    if (a.type === 'Hostname') {
      if (!DNS_NAME.test(a.value)) {
        return { cluster, reason: `spec.addresses[${i}] "${a.value}" is not a valid hostname` };
      }
      addresses.push({ type: 'Hostname', value: a.value });
    } else if (a.type === 'IPAddress' || a.type === '') {
      if (!net.isIP(a.value)) return { cluster, reason: `spec.addresses[${i}] "${a.value}" is not a valid IP address` };
      addresses.push({ type: 'IPAddress', value: a.value });
    } else {
      return { cluster, reason: `spec.addresses[${i}] has unsupported type ${a.type}` };
    }
  }
  const address = addresses[0]!;
  const xds = gw.listeners.find((l) => l.name === LISTENER_XDS);
  const hbone = gw.listeners.find((l) => l.name === LISTENER_HBONE);
  const trustDomain = gw.annotations[ANNOTATION.gatewayTrustDomain] || opts.localTrustDomain;
  if (!/^[a-z0-9.-]+$/i.test(trustDomain)) return { cluster, reason: `trust domain "${trustDomain}" is not valid` };
  // A peer is verified against the roots of its own trust domain only, so one without roots can never be dialled.
  if (opts.trustDomains && !opts.trustDomains.includes(trustDomain)) {
    return { cluster, reason: `trust domain "${trustDomain}" has no roots configured (peering.trustBundles)` };
  }
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
  const key = decl.key;
  const gateways: PeerGateway[] = addresses.map((a, index) => {
    const g: PeerGateway = {
      id: `${key}|${a.value}`,
      key,
      gatewayName: gw.name,
      gatewayNamespace: gw.namespace,
      index,
      address: a,
      xdsPort: decl.xdsPort,
      hbonePort: decl.hbonePort,
    };
    return decl.locality ? { ...g, locality: decl.locality } : g;
  });
  return withGateways({ ...decl, gateways, connKey: '' }, gateways);
}

/** The identity of a link: what must agree for two Gateways to be gateways of the same peer. */
const linkIdentity = (d: PeerDecl): string =>
  JSON.stringify([d.cluster, d.network, d.trustDomain, d.peerSpiffeId, d.nodePort]);

/** A declaration with its gateway list (and the connection key that covers every xDS endpoint). */
function withGateways(d: PeerDecl, gateways: readonly PeerGateway[]): PeerDecl {
  const endpoints = gateways.map((g) => [g.address.value, g.xdsPort]);
  return { ...d, gateways, connKey: JSON.stringify([linkIdentity(d), endpoints]) };
}

/** All istio-remote Gateways of a snapshot, sorted by ns/name so duplicates resolve the same way every time. */
export function declaredPeers(
  snapshot: RegistrySnapshot,
  opts: { localCluster: string; localTrustDomain: string; peerIdentity: string; trustDomains?: readonly string[] },
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
      // Another gateway of the same peer when it agrees on what the link is; a conflicting declaration otherwise.
      if (linkIdentity(kept) !== linkIdentity(r)) {
        const reason = 'network, trust domain, peer identity or NodePort mode differ';
        out.duplicates.push({ key, cluster: r.cluster, kept: kept.key, reason });
        continue;
      }
      byCluster.set(r.cluster, withGateways(kept, [...kept.gateways, ...r.gateways]));
      (out.joined ??= []).push({ key, cluster: r.cluster, kept: kept.key });
      continue;
    }
    byCluster.set(r.cluster, r);
  }
  out.peers = [...byCluster.values()];
  return out;
}

/** Label istio's gateway deployment controller puts on the Service it renders for a Gateway. */
export const LABEL_GATEWAY_NAME = 'gateway.networking.k8s.io/gateway-name';

/**
 * The Service behind an east-west Gateway. istio renders it in the Gateway's
 * namespace under the Gateway's own name (the east-west class has
 * DisableNameSuffix, like waypoints: pilot gatewaycommon ClassInfo) and labels
 * it gateway.networking.k8s.io/gateway-name; a same-named Service labelled for
 * another Gateway is not ours. One map lookup: this runs on every push.
 */
export function eastWestService(snapshot: RegistrySnapshot, gw: GatewayObj): ServiceObj | undefined {
  const svc = snapshot.services.get(`${gw.namespace}/${gw.name}`);
  if (!svc) return undefined;
  const owner = svc.labels[LABEL_GATEWAY_NAME];
  return owner === undefined || owner === gw.name ? svc : undefined;
}

export interface EastWestNode {
  name: string;
  addresses: Buffer[];
  locality?: LocalityMsg;
}

/**
 * Data-plane addresses of every Node: its InternalIPs, or its ExternalIPs when
 * it has no InternalIP (peers on another network usually reach nodes through
 * whatever routes the operator set up for NodePort; InternalIP is what a node
 * always has and what Solo's NodePort mode is documented to work with).
 * Nodes without either are skipped. Sorted by name.
 */
export function nodeAddresses(snapshot: RegistrySnapshot): EastWestNode[] {
  const out: EastWestNode[] = [];
  for (const n of snapshot.nodes.values()) {
    const all = n.addresses ?? [];
    const internal = all.filter((a) => a.type === 'InternalIP');
    const chosen = internal.length > 0 ? internal : all.filter((a) => a.type === 'ExternalIP');
    const addresses = chosen.map((a) => ipToBytes(a.address)).filter((b): b is Buffer => b !== undefined);
    if (addresses.length === 0) continue;
    const node: EastWestNode = { name: n.name, addresses };
    const loc = localityOf(n.labels);
    if (loc) node.locality = loc;
    out.push(node);
  }
  return out.sort((a, b) => cmp(a.name, b.name));
}

/**
 * The local east-west gateway (first by ns/name) as exported in ClusterInfo.
 * NodePort mode (peering.solo.io/data-plane-service-type: nodeport): the HBONE
 * nodePort is the gateway Service's spec.ports[].nodePort for the HBONE
 * listener port, and the nodes are the registry's Nodes (nodeAddresses).
 */
export function localEastWest(
  snapshot: RegistrySnapshot,
): { msg: EastWestGatewayMsg; nodes: EastWestNode[] } | undefined {
  const gws = [...snapshot.gateways.values()].filter((g) => EAST_WEST_CLASSES.has(g.gatewayClassName));
  if (gws.length === 0) return undefined;
  gws.sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  const gw = gws[0]!;
  const msg: EastWestGatewayMsg = { name: gw.name, namespace: gw.namespace };
  const addr = gw.addresses[0] ?? gw.statusAddresses[0];
  if (addr) msg.address = addr.value;
  const hbone = gw.listeners.find(
    (l) => l.protocol.toUpperCase() === 'HBONE' || l.name === LISTENER_HBONE || l.port === DEFAULT_HBONE_PORT,
  );
  msg.hbonePort = hbone?.port ?? DEFAULT_HBONE_PORT;
  const xds = gw.listeners.find((l) => l.name === LISTENER_XDS || l.port === DEFAULT_XDS_PORT);
  msg.xdsPort = xds?.port ?? DEFAULT_XDS_PORT;
  msg.serviceAccount = gw.annotations[ANNOTATION.gatewayServiceAccount] || gw.name;
  let nodes: EastWestNode[] = [];
  if (isNodePort(gw.annotations[ANN_DATA_PLANE_TYPE])) {
    msg.nodePort = true;
    const port = eastWestService(snapshot, gw)?.ports.find(
      (p) => p.port === msg.hbonePort && (p.protocol || 'TCP').toUpperCase() === 'TCP',
    );
    if (port?.nodePort) msg.hboneNodePort = port.nodePort;
    nodes = nodeAddresses(snapshot);
  }
  const loc = localityOf(gw.labels);
  if (loc) msg.locality = loc;
  return { msg, nodes };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
