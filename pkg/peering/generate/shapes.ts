import type {
  AddressMsg,
  GatewayAddressMsg,
  LoadBalancingMsg,
  MeshContext,
  PortMsg,
  ServiceMsg,
  WorkloadMsg,
} from '../../translate';
import { LbMode, LbScope, TunnelProtocol, WorkloadStatus, WorkloadType } from '../../translate';
import { ipToBytes } from '../../model';
import type { PeerDecl, PeerGateway } from '../core';
import type { ExportedService } from './export';
import { trafficDistributionOf } from './export';
import { slotToBytes } from './vip';
import { DEFAULT_HBONE_PORT } from '../core';
import type { FederatedServiceMsg, PeerNodeMsg, PeerWorkloadMsg } from '../core';

/**
 * What imported data looks like to ztunnel: stateless builders for global
 * services, split-horizon workloads and peer gateways. The merger decides
 * which of them exist; these decide their shape.
 */
export interface ShapeContext {
  mesh: MeshContext;
  suffix: string;
  defaultTrafficDistribution: string;
}

export function loadBalancingFor(td: string): LoadBalancingMsg | undefined {
  switch (td) {
    case 'PreferNetwork':
      return { routingPreference: [LbScope.NETWORK], mode: LbMode.FAILOVER };
    case 'PreferRegion':
      return { routingPreference: [LbScope.NETWORK, LbScope.REGION], mode: LbMode.FAILOVER };
    case 'PreferClose':
      return {
        routingPreference: [LbScope.NETWORK, LbScope.REGION, LbScope.ZONE, LbScope.SUBZONE],
        mode: LbMode.FAILOVER,
      };
    default:
      return undefined; // Any: no preference
  }
}

/**
 * istiod's split-horizon form (ambient/multicluster.go createSplitHorizonWorkload), one per (peer gateway,
 * global service).
 * The peer's first gateway keeps the plain form; each further gateway address is its own endpoint
 * (`<gateway name>` for a Gateway's first address, `<gateway name>@<address>` for the others).
 */
export function splitHorizonUid(decl: PeerDecl, ns: string, host: string, gw?: PeerGateway): string {
  // join() yields one flat string; a template literal leaves a rope (cons string) that is kept
  // alongside its flattened copy once hashed — per workload, at N peers x S services.
  if (!gw || gw.id === decl.gateways[0]?.id) {
    return [decl.network, 'SplitHorizonWorkload', decl.gatewayNamespace, decl.gatewayName, ns, host].join('/');
  }
  const name = gw.index ? `${gw.gatewayName}@${gw.address.value}` : gw.gatewayName;
  return [decl.network, 'SplitHorizonWorkload', gw.gatewayNamespace, name, ns, host].join('/');
}

/**
 * The gateways a peer's endpoints go through: the health-checked subset when the layer set one,
 * else every declared gateway. NodePort peers have one (the node hostname service): undefined.
 */
export function endpointGateways(decl: PeerDecl): readonly (PeerGateway | undefined)[] {
  if (decl.nodePort) return [undefined];
  const g = decl.dataGateways ?? decl.gateways ?? [];
  return g.length ? g : [undefined];
}

/**
 * A peer's capacity split over its gateways so the peer's total weight is unchanged (ztunnel
 * weighs endpoints by capacity): at least 1 each while the peer has capacity.
 */
export function capacityShare(capacity: number, gateways: number): number {
  return capacity && gateways > 1 ? Math.max(1, Math.round(capacity / gateways)) : capacity;
}

export function nodeGatewayHost(decl: PeerDecl, suffix: string): string {
  return `node.${decl.gatewayServiceAccount}.${decl.network}.${suffix}`;
}

export function vipAddr(mesh: MeshContext, slot: number): { network?: string; address: Buffer } {
  return mesh.network ? { network: mesh.network, address: slotToBytes(slot) } : { address: slotToBytes(slot) };
}

export function globalService(
  i: ShapeContext,
  g: { name: string; ns: string; local?: ExportedService },
  remotes: readonly { fs: FederatedServiceMsg }[],
  host: string,
  slot: number,
): ServiceMsg {
  const s: ServiceMsg = { name: g.name, namespace: g.ns, hostname: host, addresses: [vipAddr(i.mesh, slot)] };
  let ports: PortMsg[];
  if (g.local) {
    ports = g.local.svc.ports.map((p) =>
      typeof p.targetPort === 'number' ? { servicePort: p.port, targetPort: p.targetPort } : { servicePort: p.port },
    );
  } else {
    const byPort = new Map<number, PortMsg>();
    for (const { fs } of remotes)
      for (const p of fs.ports ?? [])
        if (!byPort.has(p.port))
          byPort.set(
            p.port,
            p.targetPort ? { servicePort: p.port, targetPort: p.targetPort } : { servicePort: p.port },
          );
    ports = [...byPort.values()].sort((a, b) => a.servicePort! - b.servicePort!);
  }
  if (ports.length) s.ports = ports;
  const sans = new Set<string>();
  for (const { fs } of remotes) for (const n of fs.subjectAltNames ?? []) sans.add(n);
  if (sans.size) s.subjectAltNames = [...sans].sort();
  let td = g.local ? trafficDistributionOf(g.local.svc) : '';
  if (!td && !g.local) {
    // An exporter that set nothing means the default; disagreement falls back to the default too.
    const vals = new Set(remotes.map((r) => r.fs.trafficDistribution || i.defaultTrafficDistribution));
    if (vals.size === 1) td = [...vals][0]!;
  }
  const lb = loadBalancingFor(td || i.defaultTrafficDistribution);
  if (lb) s.loadBalancing = lb;
  return s;
}

export function gatewayFor(i: ShapeContext, decl: PeerDecl, gw?: PeerGateway): GatewayAddressMsg {
  if (decl.nodePort)
    return {
      hostname: { namespace: i.mesh.rootNamespace, hostname: nodeGatewayHost(decl, i.suffix) },
      hboneMtlsPort: DEFAULT_HBONE_PORT,
    };
  const g = gw ?? { address: decl.address, gatewayNamespace: decl.gatewayNamespace, hbonePort: decl.hbonePort };
  if (g.address.type === 'Hostname') {
    return { hostname: { namespace: g.gatewayNamespace, hostname: g.address.value }, hboneMtlsPort: g.hbonePort };
  }
  return { address: { network: decl.network, address: ipToBytes(g.address.value)! }, hboneMtlsPort: g.hbonePort };
}

/**
 * The peer's gateway itself (address or hostname form), so ztunnel's
 * fetch_network_gateway resolves `network_gateway` (ztunnel src/state.rs: a
 * Workload with that IP in the gateway's network, or that hostname and
 * namespace). Its identity — namespace of the istio-remote Gateway, the
 * gateway's service account — is the SAN the client expects of the gateway's
 * certificate (istiod convertGateway). One per declared gateway address (a peer may
 * have several). NodePort peers use node workloads instead.
 */
export function peerGatewayWorkloads(decl: PeerDecl): [string, WorkloadMsg][] {
  const gws = decl.gateways?.length ? decl.gateways : [undefined];
  return gws.map((gw) => {
    const ns = gw?.gatewayNamespace ?? decl.gatewayNamespace;
    const name = gw?.gatewayName ?? decl.gatewayName;
    const address = gw?.address ?? decl.address;
    // A Gateway's second and later addresses are workloads of their own (as splitHorizonUid names them).
    const uid = [decl.cluster, 'NetworkGateway', ns, gw?.index ? `${name}@${address.value}` : name].join('/');
    const w: WorkloadMsg = { uid, name, namespace: ns, network: decl.network };
    if (address.type === 'Hostname') w.hostname = address.value;
    else w.addresses = [ipToBytes(address.value)!];
    w.tunnelProtocol = TunnelProtocol.HBONE;
    if (decl.trustDomain !== 'cluster.local') w.trustDomain = decl.trustDomain;
    w.serviceAccount = decl.gatewayServiceAccount;
    w.clusterId = decl.cluster;
    const locality = gw?.locality ?? decl.locality;
    if (locality) w.locality = locality;
    return [uid, w] as [string, WorkloadMsg];
  });
}

/** The `services` map of a split-horizon workload: every global key, with the peer service's ports. */
export function splitHorizonServices(
  fs: FederatedServiceMsg,
  svcKeys: readonly string[],
): Record<string, { ports?: PortMsg[] }> {
  const ports: PortMsg[] = (fs.ports ?? []).map((p) => ({ servicePort: p.port, targetPort: p.targetPort || p.port }));
  const services: Record<string, { ports?: PortMsg[] }> = {};
  for (const k of svcKeys) services[k] = ports.length ? { ports } : {};
  return services;
}

/**
 * One peer's endpoint of a global service through one of its gateways (`gw`; the first when
 * absent): no addresses, `capacity` the peer's share on that gateway, locality the gateway's.
 */
export function splitHorizon(
  i: ShapeContext,
  peer: { decl: PeerDecl },
  fs: FederatedServiceMsg,
  host: string,
  svcKeys: string[],
  gw?: PeerGateway,
  capacity = fs.capacity ?? 0,
): WorkloadMsg {
  const { decl } = peer;
  const uid = splitHorizonUid(decl, fs.namespace, host, gw);
  const w: WorkloadMsg = {
    uid,
    name: uid,
    namespace: fs.namespace,
    network: decl.network,
    tunnelProtocol: TunnelProtocol.HBONE,
    networkGateway: gatewayFor(i, decl, gw),
    services: splitHorizonServices(fs, svcKeys),
    clusterId: decl.cluster,
  };
  if (capacity) w.capacity = { value: capacity };
  else w.status = WorkloadStatus.UNHEALTHY;
  if (decl.trustDomain !== 'cluster.local') w.trustDomain = decl.trustDomain;
  const loc = gw?.locality ?? decl.locality;
  if (loc) w.locality = loc;
  return w;
}

/**
 * Flat mode: a peer's pod as a real local-network workload (its own IPs), services re-keyed to global
 * hostnames; `extraKeys` adds the keys a peer service's pods also back (its taken-over cluster.local name).
 */
export function flatPodWorkload(
  pw: PeerWorkloadMsg,
  decl: PeerDecl,
  network: string,
  suffix: string,
  extraKeys?: (ns: string, name: string) => string[],
): WorkloadMsg {
  const uid = `${decl.cluster}//Pod/${pw.namespace}/${pw.name}`;
  const w: WorkloadMsg = { uid, name: pw.name, namespace: pw.namespace, addresses: pw.addresses ?? [] };
  if (network) w.network = network;
  w.tunnelProtocol = TunnelProtocol.HBONE;
  if (pw.trustDomain && pw.trustDomain !== 'cluster.local') w.trustDomain = pw.trustDomain;
  w.serviceAccount = pw.serviceAccount || 'default';
  if (pw.node) w.node = pw.node;
  if (pw.canonicalName) w.canonicalName = pw.canonicalName;
  if (pw.canonicalRevision) w.canonicalRevision = pw.canonicalRevision;
  w.workloadType = WorkloadType.POD;
  if (pw.workloadName) w.workloadName = pw.workloadName;
  const services: Record<string, { ports?: PortMsg[] }> = {};
  for (const [k, v] of Object.entries(pw.services ?? {})) {
    const [ns, name] = k.split('/') as [string, string];
    const keys = [`${ns}/${name}.${ns}.${suffix}`, ...(extraKeys?.(ns, name) ?? [])];
    for (const key of keys) services[key] = v.ports?.length ? { ports: v.ports.map((p) => ({ ...p })) } : {};
  }
  w.services = services;
  if (!pw.ready) w.status = WorkloadStatus.UNHEALTHY;
  w.clusterId = decl.cluster;
  const loc = pw.locality ?? decl.locality;
  if (loc) w.locality = loc;
  return w;
}

/**
 * NodePort mode: the peer's gateway is a hostname service backed by its node
 * addresses (HBONE nodePort). Yields the service first, then one workload per node.
 */
export function* nodeGatewayAddresses(
  decl: PeerDecl,
  nodes: Iterable<PeerNodeMsg>,
  rootNamespace: string,
  suffix: string,
): Generator<[string, AddressMsg]> {
  const list = [...nodes];
  if (list.length === 0) return;
  const host = nodeGatewayHost(decl, suffix);
  const key = `${rootNamespace}/${host}`;
  let nodePort = 0;
  for (const n of list) nodePort ||= n.hboneNodePort ?? 0;
  yield [
    key,
    {
      service: {
        name: `node.${decl.gatewayServiceAccount}`,
        namespace: rootNamespace,
        hostname: host,
        ports: [{ servicePort: DEFAULT_HBONE_PORT, targetPort: nodePort }],
      },
    },
  ];
  for (const n of list) {
    const uid = `${decl.cluster}//Node/${n.name}`;
    const w: WorkloadMsg = {
      uid,
      name: n.name,
      namespace: decl.gatewayNamespace,
      addresses: n.addresses ?? [],
      network: decl.network,
    };
    if (decl.trustDomain !== 'cluster.local') w.trustDomain = decl.trustDomain;
    w.serviceAccount = decl.gatewayServiceAccount;
    w.services = { [key]: { ports: [{ servicePort: DEFAULT_HBONE_PORT, targetPort: n.hboneNodePort ?? nodePort }] } };
    w.clusterId = decl.cluster;
    const loc = n.locality ?? decl.locality;
    if (loc) w.locality = loc;
    yield [uid, { workload: w }];
  }
}
