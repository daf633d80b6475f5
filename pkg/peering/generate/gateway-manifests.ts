import * as net from 'node:net';
import { ANNOTATION, LABEL } from '../../model';
import type { GatewayAddressObj, GatewayObj, StringMap } from '../../model';
import type { LocalityMsg } from '../../translate';
import { EAST_WEST_CLASSES } from '../../translate';
import { localityOf, validatePeerGateway } from '../core';
import { CLASS_REMOTE, DEFAULT_HBONE_PORT, DEFAULT_XDS_PORT, LISTENER_HBONE, LISTENER_XDS } from '../core';

/**
 * The shapes behind `ambientd expose` and `ambientd link` (docs/design/peering-model.md,
 * East-west gateway, Peer gateway, CLI flows): the east-west Gateway a cluster publishes, and the
 * istio-remote Gateway another cluster declares to import from it. Pure: the
 * CLI reads the inputs (config, a peer's debug documents or file) and writes
 * the output.
 */

export const CLASS_EAST_WEST = 'istio-eastwest';
export const DEFAULT_GATEWAY_NAMESPACE = 'istio-gateways';
export const DEFAULT_EAST_WEST_NAME = 'istio-eastwest';

/** A Kubernetes manifest (kubectl-applicable once serialised). */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: StringMap; annotations?: StringMap };
  spec: Record<string, unknown>;
}

export interface EastWestSpec {
  name?: string;
  namespace?: string;
  cluster: string;
  network: string;
  trustDomain: string;
  /** Where peers reach this cluster's gateway (absent in Kubernetes mode: the LoadBalancer assigns it). */
  addresses?: GatewayAddressObj[];
  xdsPort?: number;
  hbonePort?: number;
  locality?: LocalityMsg;
}

const addrType = (v: string): string => (net.isIP(v) ? 'IPAddress' : 'Hostname');
const typed = (a: GatewayAddressObj): GatewayAddressObj => ({ type: a.type || addrType(a.value), value: a.value });

/** Parses "a,b" (IPs or hostnames) into Gateway addresses. */
export function parseAddresses(list: string): GatewayAddressObj[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((value) => ({ type: addrType(value), value }));
}

function localityLabels(l?: LocalityMsg): StringMap {
  const out: Record<string, string> = {};
  if (l?.region) out[LABEL.region] = l.region;
  if (l?.zone) out[LABEL.zone] = l.zone;
  if (l?.subzone) out[LABEL.subzone] = l.subzone;
  return out;
}

function listeners(xdsPort: number, hbonePort: number): Record<string, unknown>[] {
  return [
    { name: LISTENER_HBONE, port: hbonePort, protocol: 'HBONE', tls: { mode: 'Passthrough' } },
    { name: LISTENER_XDS, port: xdsPort, protocol: 'TLS', tls: { mode: 'Passthrough' } },
  ];
}

/** This cluster's east-west Gateway, as `istioctl multicluster expose` writes it (+ our trust domain). */
export function eastWestManifest(s: EastWestSpec): Manifest {
  const xdsPort = s.xdsPort ?? DEFAULT_XDS_PORT;
  const spec: Record<string, unknown> = { gatewayClassName: CLASS_EAST_WEST };
  if (s.addresses?.length) spec.addresses = s.addresses.map(typed);
  spec.listeners = listeners(xdsPort, s.hbonePort ?? DEFAULT_HBONE_PORT);
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: s.name ?? DEFAULT_EAST_WEST_NAME,
      namespace: s.namespace ?? DEFAULT_GATEWAY_NAMESPACE,
      labels: {
        [LABEL.network]: s.network,
        [LABEL.cluster]: s.cluster,
        [LABEL.exposeIstiod]: String(xdsPort),
        ...localityLabels(s.locality),
      },
      // Read by `link --from <this file>`: the peer verifies our daemon against this trust domain's roots.
      annotations: { [ANNOTATION.gatewayTrustDomain]: s.trustDomain },
    },
    spec,
  };
}

/** What an importer needs to know about a peer to declare it. */
export interface PeerLinkInfo {
  cluster: string;
  network: string;
  trustDomain: string;
  addresses: GatewayAddressObj[];
  xdsPort: number;
  hbonePort: number;
  /** Namespace and service account of the peer's east-west gateway (its data-plane identity). */
  gatewayNamespace: string;
  serviceAccount: string;
  locality?: LocalityMsg;
}

/**
 * A peer's link info from its east-west Gateway (our `expose` output, or one
 * read from its registry). `fallback` fills what the Gateway does not say
 * (the peer daemon's configured cluster id and trust domain).
 */
export function peerInfoFromEastWest(
  gw: GatewayObj,
  fallback: { cluster?: string; network?: string; trustDomain?: string } = {},
): PeerLinkInfo | { reason: string } {
  const key = `${gw.namespace}/${gw.name}`;
  if (!EAST_WEST_CLASSES.has(gw.gatewayClassName)) {
    return { reason: `${key} has class ${gw.gatewayClassName}, not an east-west gateway (istio-eastwest)` };
  }
  const network = gw.labels[LABEL.network] || fallback.network || '';
  if (!network) return { reason: `${key} has no ${LABEL.network} label and the peer reports no network` };
  const cluster = gw.labels[LABEL.cluster] || fallback.cluster || network;
  const trustDomain = gw.annotations[ANNOTATION.gatewayTrustDomain] || fallback.trustDomain || '';
  if (!trustDomain) {
    return { reason: `${key}: the peer's trust domain is unknown (annotation ${ANNOTATION.gatewayTrustDomain})` };
  }
  const ls = gw.listeners;
  const xds = ls.find((l) => l.name === LISTENER_XDS) ?? ls.find((l) => l.port === DEFAULT_XDS_PORT);
  const hbone = ls.find((l) => l.name === LISTENER_HBONE) ?? ls.find((l) => l.protocol.toUpperCase() === 'HBONE');
  const info: PeerLinkInfo = {
    cluster,
    network,
    trustDomain,
    // spec first; status (what Kubernetes assigned a LoadBalancer) when spec has none.
    addresses: [...(gw.addresses.length ? gw.addresses : gw.statusAddresses)],
    xdsPort: xds?.port ?? DEFAULT_XDS_PORT,
    hbonePort: hbone?.port ?? DEFAULT_HBONE_PORT,
    gatewayNamespace: gw.namespace,
    serviceAccount: gw.annotations[ANNOTATION.gatewayServiceAccount] || gw.name,
  };
  const loc = localityOf(gw.labels);
  if (loc) info.locality = loc;
  return info;
}

/** The east-west Gateways of a list, in ns/name order (the first is what a single-gateway peer uses). */
export function eastWestGateways(gws: Iterable<GatewayObj>): GatewayObj[] {
  return [...gws]
    .filter((g) => EAST_WEST_CLASSES.has(g.gatewayClassName))
    .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
}

export const remoteGatewayName = (cluster: string): string => `istio-remote-peer-${cluster}`;

/** The istio-remote Gateway for a peer (the `istioctl multicluster link` shape), as a registry object. */
export function remoteGateway(info: PeerLinkInfo): GatewayObj {
  return {
    kind: 'Gateway',
    name: remoteGatewayName(info.cluster),
    namespace: info.gatewayNamespace,
    gatewayClassName: CLASS_REMOTE,
    labels: { [LABEL.network]: info.network, [LABEL.cluster]: info.cluster, ...localityLabels(info.locality) },
    annotations: {
      [ANNOTATION.gatewayServiceAccount]: info.serviceAccount,
      [ANNOTATION.gatewayTrustDomain]: info.trustDomain,
    },
    addresses: info.addresses.map(typed),
    statusAddresses: [],
    listeners: [
      { name: LISTENER_HBONE, port: info.hbonePort, protocol: 'HBONE' },
      { name: LISTENER_XDS, port: info.xdsPort, protocol: 'TLS' },
    ],
  };
}

const portOf = (gw: GatewayObj, name: string): number => gw.listeners.find((l) => l.name === name)!.port;

export function remoteManifest(gw: GatewayObj): Manifest {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: gw.name, namespace: gw.namespace, labels: { ...gw.labels }, annotations: { ...gw.annotations } },
    spec: {
      gatewayClassName: gw.gatewayClassName,
      addresses: gw.addresses.map((a) => ({ type: a.type, value: a.value })),
      listeners: listeners(portOf(gw, LISTENER_XDS), portOf(gw, LISTENER_HBONE)),
    },
  };
}

/**
 * The istio-remote Gateway `link` emits, or why it would be refused: the
 * same rules the daemon applies to a declared peer (validatePeerGateway), so
 * what link writes is never reported Invalid, plus the local-cluster rule.
 */
export function linkGateway(
  info: PeerLinkInfo,
  local: { cluster: string; trustDomain: string; peerIdentity: string; trustDomains: readonly string[] },
): { manifest: Manifest; gateway: GatewayObj } | { reason: string; status: 'Invalid' | 'LocalCluster' } {
  if (info.cluster === local.cluster) {
    const reason = `the peer is this cluster (${local.cluster}); a cluster does not link to itself`;
    return { status: 'LocalCluster', reason };
  }
  const gw = remoteGateway(info);
  const r = validatePeerGateway(gw, {
    localTrustDomain: local.trustDomain,
    peerIdentity: local.peerIdentity,
    trustDomains: local.trustDomains,
  });
  if (!('key' in r)) return { status: 'Invalid', reason: r.reason };
  return { manifest: remoteManifest(gw), gateway: gw };
}
