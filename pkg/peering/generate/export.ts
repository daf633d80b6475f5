import { LABEL, ANNOTATION } from '../../model';
import type { ServiceObj, StringMap } from '../../model';
import type { RegistrySnapshot } from '../../registry';
import { serviceHostname, WorkloadStatus } from '../../translate';
import type { LocalOutput, MeshContext, WorkloadMsg } from '../../translate';
import type { MessageMap } from '../../push';
import { localEastWest } from '../core';
import {
  CLUSTER_INFO_NAME,
  MAX_CAPACITY,
  Takeover,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_NODE,
  TYPE_PEER_WORKLOAD,
} from '../core';
import type { ClusterInfoMsg, FederatedServiceMsg, PeerNodeMsg, PeerWorkloadMsg, ServicePortMsg } from '../core';

/** solo.io/service-scope values that export a service (docs/design/peering-model.md). */
const EXPORTED_SCOPES = new Set(['global', 'global-only']);

/** The service's scope label wins over its namespace's; istio.io/global=true also exports. */
export function serviceScope(
  svc: { labels: StringMap },
  nsLabels: StringMap | undefined,
): { scope: string; exported: boolean } {
  const scope = svc.labels[LABEL.serviceScope] ?? nsLabels?.[LABEL.serviceScope] ?? '';
  if (EXPORTED_SCOPES.has(scope)) return { scope, exported: true };
  if (svc.labels[LABEL.istioGlobal] === 'true') return { scope: 'global', exported: true };
  return { scope, exported: false };
}

/** Explicit solo.io/service-takeover on the Service, then its Namespace. */
export function explicitTakeover(svc: { labels: StringMap }, nsLabels: StringMap | undefined): number {
  const v = svc.labels[LABEL.serviceTakeover] ?? nsLabels?.[LABEL.serviceTakeover];
  if (v === 'true') return Takeover.TRUE;
  if (v === 'false') return Takeover.FALSE;
  return Takeover.UNSET;
}

/** Ready workloads rounded down to a power of two, capped (0 stays 0): churn inside a bucket sends nothing. */
export function capacityBucket(ready: number): number {
  if (ready <= 0) return 0;
  if (ready >= MAX_CAPACITY) return MAX_CAPACITY;
  return 2 ** Math.floor(Math.log2(ready));
}

export function trafficDistributionOf(svc: ServiceObj): string {
  return svc.annotations[ANNOTATION.trafficDistribution] ?? svc.trafficDistribution ?? '';
}

export interface ExportedService {
  svc: ServiceObj;
  /** "ns/name" (the FederatedService resource name). */
  key: string;
  scope: string;
  takeover: number;
}

/** Local Services that are exported, keyed by their local xDS service key "ns/<name>.<ns>.svc.<domain>". */
export function exportedServices(snapshot: RegistrySnapshot, mesh: MeshContext): Map<string, ExportedService> {
  const out = new Map<string, ExportedService>();
  for (const svc of snapshot.services.values()) {
    if (svc.type === 'ExternalName') continue;
    const nsLabels = snapshot.namespaces.get(svc.namespace)?.labels;
    const s = serviceScope(svc, nsLabels);
    if (!s.exported) continue;
    out.set(`${svc.namespace}/${serviceHostname(svc.name, svc.namespace, mesh.domainSuffix)}`, {
      svc,
      key: `${svc.namespace}/${svc.name}`,
      scope: s.scope,
      takeover: explicitTakeover(svc, nsLabels),
    });
  }
  return out;
}

function appProtocolName(p: { name?: string; appProtocol?: string }): string {
  return (p.appProtocol ?? (p.name ? p.name.split('-')[0]! : '')).toLowerCase();
}

/** An Address that carries a Workload (not a Service). */
export function isWorkload(a: object): a is { workload: WorkloadMsg } {
  return (a as { workload?: unknown }).workload !== undefined;
}

const spiffe = (w: WorkloadMsg): string =>
  `spiffe://${w.trustDomain || 'cluster.local'}/ns/${w.namespace ?? ''}/sa/${w.serviceAccount || 'default'}`;

/**
 * Pure export generators with identity memoisation: an unchanged message keeps
 * its object (and origin time), so the push Encoder re-encodes nothing and
 * peers receive nothing.
 */
export class Exporter {
  private services = new Map<string, { sig: string; msg: FederatedServiceMsg }>();
  private clusterInfo?: { sig: string; msg: ClusterInfoMsg };
  private readonly podMemo = new WeakMap<object, { sig: string; msg: PeerWorkloadMsg }>();
  private nodes = new Map<string, { sig: string; msg: PeerNodeMsg }>();

  constructor(private readonly o: { version: string; suffix: string; now: () => number }) {}

  build(
    snapshot: RegistrySnapshot,
    mesh: MeshContext,
    local: LocalOutput,
    exported: Map<string, ExportedService>,
  ): Map<string, MessageMap> {
    const now = this.o.now();
    // One pass over local workloads: readiness counts, SANs and (flat) per-pod data.
    const ready = new Map<string, number>();
    const sans = new Map<string, Set<string>>();
    const pods = new Map<string, PeerWorkloadMsg>();
    // Nothing exported (the single-cluster default): skip the pass over every
    // local workload — at 50k pods it ran on each push for no output.
    for (const a of exported.size > 0 ? local.addresses.values() : []) {
      if (!isWorkload(a)) continue;
      const w = a.workload;
      if (!w.services || (w.network && w.network !== mesh.network)) continue;
      let hits: string[] | undefined;
      for (const k in w.services) {
        const e = exported.get(k);
        if (!e) continue;
        (hits ??= []).push(k);
        if (w.status !== WorkloadStatus.UNHEALTHY) ready.set(k, (ready.get(k) ?? 0) + 1);
        let s = sans.get(k);
        if (!s) sans.set(k, (s = new Set()));
        s.add(spiffe(w));
      }
      if (hits && w.addresses && w.addresses.length > 0 && w.uid.includes('//Pod/')) {
        const pw = this.peerWorkload(w, hits, exported, now);
        pods.set(`${pw.namespace}/${pw.name}`, pw);
      }
    }
    const fsMap = new Map<string, FederatedServiceMsg>();
    const nextServices = new Map<string, { sig: string; msg: FederatedServiceMsg }>();
    for (const [hostKey, e] of exported) {
      const { svc } = e;
      const ports: ServicePortMsg[] = svc.ports.map((p) => {
        const m: ServicePortMsg = { port: p.port };
        if (typeof p.targetPort === 'number') m.targetPort = p.targetPort;
        if (p.protocol) m.protocol = p.protocol;
        if (p.name) m.name = p.name;
        const ap = appProtocolName(p);
        if (ap) m.appProtocol = ap;
        return m;
      });
      const msg: FederatedServiceMsg = {
        name: svc.name,
        namespace: svc.namespace,
        hostname: `${svc.name}.${svc.namespace}.${this.o.suffix}`,
      };
      if (ports.length) msg.ports = ports;
      const s = sans.get(hostKey);
      if (s && s.size) msg.subjectAltNames = [...s].sort();
      const cap = capacityBucket(ready.get(hostKey) ?? 0);
      if (cap) msg.capacity = cap;
      const td = trafficDistributionOf(svc);
      if (td) msg.trafficDistribution = td;
      msg.scope = e.scope;
      if (e.takeover) msg.takeover = e.takeover;
      const wp = svc.labels['istio.io/use-waypoint'];
      if (wp && wp !== 'none')
        msg.waypoint = { name: wp, namespace: svc.labels['istio.io/use-waypoint-namespace'] || svc.namespace };
      nextServices.set(e.key, this.memo(this.services.get(e.key), msg, now));
      fsMap.set(e.key, nextServices.get(e.key)!.msg);
    }
    this.services = nextServices;

    const ew = localEastWest(snapshot);
    const ci: ClusterInfoMsg = {
      clusterId: mesh.clusterId,
      network: mesh.network,
      trustDomain: mesh.trustDomain,
      softwareVersion: this.o.version,
    };
    if (ew) ci.eastWestGateway = ew.msg;
    this.clusterInfo = this.memo(this.clusterInfo, ci, now);

    const nodeMap = new Map<string, PeerNodeMsg>();
    const nextNodes = new Map<string, { sig: string; msg: PeerNodeMsg }>();
    if (ew?.msg.nodePort && ew.msg.hboneNodePort) {
      for (const n of ew.nodes) {
        const msg: PeerNodeMsg = { name: n.name, addresses: n.addresses, hboneNodePort: ew.msg.hboneNodePort };
        // The gateway's locality when it declares one, else the node's own topology labels.
        const loc = ew.msg.locality ?? n.locality;
        if (loc) msg.locality = loc;
        const m = this.memo(this.nodes.get(n.name), msg, now);
        nextNodes.set(n.name, m);
        nodeMap.set(n.name, m.msg);
      }
    }
    this.nodes = nextNodes;

    return new Map<string, MessageMap>([
      [TYPE_CLUSTER_INFO, new Map([[CLUSTER_INFO_NAME, this.clusterInfo.msg]])],
      [TYPE_FEDERATED_SERVICE, fsMap],
      [TYPE_PEER_WORKLOAD, pods],
      [TYPE_PEER_NODE, nodeMap],
    ]);
  }

  private peerWorkload(
    w: WorkloadMsg,
    hits: string[],
    exported: Map<string, ExportedService>,
    now: number,
  ): PeerWorkloadMsg {
    const sig = hits.join(',');
    const prev = this.podMemo.get(w);
    if (prev && prev.sig === sig) return prev.msg;
    const services: Record<string, { ports?: { servicePort?: number; targetPort?: number }[] }> = {};
    for (const k of hits) {
      const ports = w.services![k]!.ports;
      services[exported.get(k)!.key] =
        ports && ports.length
          ? { ports: ports.map((p) => ({ servicePort: p.servicePort, targetPort: p.targetPort })) }
          : {};
    }
    const msg: PeerWorkloadMsg = {
      name: w.name ?? w.uid,
      namespace: w.namespace ?? '',
      addresses: w.addresses,
      services,
      ready: w.status !== WorkloadStatus.UNHEALTHY,
    };
    if (w.serviceAccount) msg.serviceAccount = w.serviceAccount;
    if (w.trustDomain) msg.trustDomain = w.trustDomain;
    if (w.locality) msg.locality = w.locality;
    if (w.node) msg.node = w.node;
    if (w.canonicalName) msg.canonicalName = w.canonicalName;
    if (w.canonicalRevision) msg.canonicalRevision = w.canonicalRevision;
    if (w.workloadName) msg.workloadName = w.workloadName;
    msg.originTimeUnixMs = now;
    this.podMemo.set(w, { sig, msg });
    return msg;
  }

  /** Reuses the previous object when only the origin stamp would differ. */
  private memo<T extends { originTimeUnixMs?: number }>(
    prev: { sig: string; msg: T } | undefined,
    msg: T,
    now: number,
  ): { sig: string; msg: T } {
    const sig = JSON.stringify(msg);
    if (prev && prev.sig === sig) return prev;
    msg.originTimeUnixMs = now;
    return { sig, msg };
  }
}
