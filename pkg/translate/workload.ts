import { ipToBytes, LABEL, ANNOTATION } from '../model';
import type { PodObj, StringMap, WorkloadEntryObj } from '../model';
import { selectorMatches } from './context';
import type { SelectingService, TranslateContext } from './context';
import { peerAuthKeysFor } from './peerauth';
import {
  NetworkMode,
  TunnelProtocol,
  WorkloadStatus,
  WorkloadType,
  workloadUidForPod,
  workloadUidForWorkloadEntry,
} from './types';
import type { LocalityMsg, PortListMsg, PortMsg, WorkloadMsg } from './types';

/**
 * Pod / WorkloadEntry → istio.workload.Workload with istiod's
 * podWorkloadBuilder semantics (reference §7.1).
 */

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** Is the workload captured by ztunnel (HBONE)? */
function captured(labels: StringMap, annotations: StringMap, ns: StringMap | undefined, hostNetwork: boolean): boolean {
  if (annotations[ANNOTATION.redirection] === 'enabled') return true;
  // Without istio-cni (file registry) the enrolment labels stand in for the
  // annotation the CNI plugin would set; `none` on the pod opts out.
  const podMode = labels[LABEL.dataplaneMode];
  if (podMode === 'none' || hostNetwork) return false;
  if (podMode === 'ambient') return true;
  return ns?.[LABEL.dataplaneMode] === 'ambient';
}

/** The workload's network: explicit (WorkloadEntry spec) > own label > namespace label > the mesh's. */
export function workloadNetwork(ctx: TranslateContext, labels: StringMap, ns: StringMap | undefined, explicit?: string): string {
  return explicit || labels[LABEL.network] || ns?.[LABEL.network] || ctx.mesh.network;
}

function canonical(labels: StringMap, workloadName: string): { name: string; revision: string } {
  return {
    name: labels[LABEL.canonicalName] || labels[LABEL.k8sAppName] || labels[LABEL.app] || workloadName,
    revision: labels[LABEL.canonicalRevision] || labels[LABEL.k8sAppVersion] || labels[LABEL.version] || 'latest',
  };
}

/**
 * Workload (telemetry) name, istiod's GetWorkloadMetaFromPod heuristic: the
 * service.istio.io/workload-name label; else, for a generated pod with a
 * controller, the controller's name with ReplicaSet hashes trimmed
 * (Deployment / Argo Rollout), an OpenShift DeploymentConfig's name, or a
 * CronJob's name from its Job's timestamp suffix; else the pod name.
 */
export function podWorkloadName(pod: PodObj): string {
  const override = pod.labels[LABEL.workloadName];
  if (override) return override;
  const o = pod.owner;
  if (!pod.generateName || !o || !o.name) return pod.name;
  if (o.kind === 'ReplicaSet') {
    for (const l of ['pod-template-hash', 'rollouts-pod-template-hash']) {
      const hash = pod.labels[l];
      if (hash && o.name.endsWith(hash)) return o.name.endsWith(`-${hash}`) ? o.name.slice(0, -(hash.length + 1)) : o.name;
    }
  }
  if (o.kind === 'ReplicationController' && pod.labels['deploymentconfig']) return pod.labels['deploymentconfig'];
  if (o.kind === 'Job') {
    const m = /^(.+)-\d{8,10}$/.exec(o.name);
    if (m) return m[1]!;
  }
  return o.name;
}

function locality(labels: StringMap | undefined): LocalityMsg | undefined {
  if (!labels) return undefined;
  const l: LocalityMsg = {};
  if (labels[LABEL.region]) l.region = labels[LABEL.region]!;
  if (labels[LABEL.zone]) l.zone = labels[LABEL.zone]!;
  if (labels[LABEL.subzone]) l.subzone = labels[LABEL.subzone]!;
  return Object.keys(l).length > 0 ? l : undefined;
}

/** services map: selected Services in the same namespace, keyed "ns/hostname", ports resolved for this workload. */
function services(
  ctx: TranslateContext,
  ns: string,
  labels: StringMap,
  resolve: (svcPortName: string | undefined, target: number | string) => number | undefined,
  /** Pods only: Services that list this pod in an EndpointSlice without selecting it (istiod's matchingServicesWithoutSelectors). */
  listedBy?: readonly SelectingService[],
): Record<string, PortListMsg> | undefined {
  let out: Record<string, PortListMsg> | undefined;
  const add = (s: SelectingService): void => {
    const ports: PortMsg[] = [];
    for (const p of s.svc.ports) {
      const target = resolve(p.name, p.targetPort);
      if (target === undefined) continue; // unresolvable named port: dropped, as istiod does
      ports.push({ servicePort: p.port, targetPort: target });
    }
    (out ??= {})[s.key] = ports.length > 0 ? { ports } : {};
  };
  outer: for (const s of ctx.selectingByNs.get(ns) ?? []) {
    for (const [k, v] of s.selector) if (labels[k] !== v) continue outer;
    add(s);
  }
  // Already selected: the slice adds nothing.
  if (listedBy) for (const s of listedBy) if (!out?.[s.key]) add(s);
  return out;
}

/** WORKLOAD_SELECTOR AuthorizationPolicies (own or root namespace) + PeerAuthentication-derived keys, sorted. */
function policies(ctx: TranslateContext, ns: string, labels: StringMap): string[] {
  const keys = new Set<string>();
  const root = ctx.mesh.rootNamespace;
  for (const n of ns === root ? [ns] : [ns, root]) {
    for (const p of ctx.selectorPoliciesByNs.get(n) ?? []) {
      if (p.hasTargetRef || (p.action !== 'ALLOW' && p.action !== 'DENY')) continue;
      if (selectorMatches(p.selector!, labels)) keys.add(`${p.namespace}/${p.name}`);
    }
  }
  for (const k of peerAuthKeysFor(ctx, ns, labels)) keys.add(k);
  return [...keys].sort();
}

/** Fields shared by both workload kinds, in one place so they stay consistent. */
function common(
  ctx: TranslateContext,
  w: WorkloadMsg,
  ns: string,
  labels: StringMap,
  net: string,
  isCaptured: boolean,
): void {
  if (net) w.network = net;
  if (isCaptured) w.tunnelProtocol = TunnelProtocol.HBONE;
  if (ctx.mesh.trustDomain && ctx.mesh.trustDomain !== 'cluster.local') w.trustDomain = ctx.mesh.trustDomain;
  // A workload on another network is reached through that network's east-west gateway; local ones directly.
  if (net !== ctx.mesh.network) {
    const gw = ctx.networkGateways.get(net);
    if (gw) w.networkGateway = gw;
  }
  const pols = policies(ctx, ns, labels);
  if (pols.length > 0) w.authorizationPolicies = pols;
  if (ctx.mesh.clusterId) w.clusterId = ctx.mesh.clusterId;
}

export function buildPodWorkload(pod: PodObj, ctx: TranslateContext): WorkloadMsg | undefined {
  if (pod.ips.length === 0 || TERMINAL.has(pod.phase)) return undefined;
  const nsObj = ctx.snapshot.namespaces.get(pod.namespace);
  const nsLabels = nsObj?.labels;
  const w: WorkloadMsg = {
    uid: workloadUidForPod(ctx.mesh.clusterId, pod.namespace, pod.name),
    name: pod.name,
    namespace: pod.namespace,
    addresses: pod.ips.map((ip) => ipToBytes(ip)!),
  };
  common(ctx, w, pod.namespace, pod.labels, workloadNetwork(ctx, pod.labels, nsLabels), captured(pod.labels, pod.annotations, nsLabels, pod.hostNetwork));
  if (pod.labels[LABEL.tunnel] === 'http') {
    w.tunnelProtocol = TunnelProtocol.HBONE;
    w.nativeTunnel = true;
  }
  w.serviceAccount = pod.serviceAccount;
  if (pod.nodeName) w.node = pod.nodeName;
  const wlName = podWorkloadName(pod);
  const c = canonical(pod.labels, wlName);
  w.canonicalName = c.name;
  w.canonicalRevision = c.revision;
  w.workloadType = WorkloadType.POD;
  w.workloadName = wlName;
  const named = new Map(pod.namedPorts.map((p) => [p.name, p.port]));
  const svcs = services(
    ctx, pod.namespace, pod.labels, (_n, t) => (typeof t === 'number' ? t : named.get(t)),
    ctx.sliceServicesByPod.get(`${pod.namespace}/${pod.name}`),
  );
  if (svcs) w.services = svcs;
  if (!pod.ready || pod.deleting) w.status = WorkloadStatus.UNHEALTHY;
  const loc = locality(pod.nodeName ? ctx.snapshot.nodes.get(pod.nodeName)?.labels : undefined);
  if (loc) w.locality = loc;
  if (pod.hostNetwork) w.networkMode = NetworkMode.HOST_NETWORK;
  return sortKeys(w);
}

export function buildWorkloadEntryWorkload(we: WorkloadEntryObj, ctx: TranslateContext): WorkloadMsg | undefined {
  if (!we.address) return undefined;
  const nsLabels = ctx.snapshot.namespaces.get(we.namespace)?.labels;
  const w: WorkloadMsg = {
    uid: workloadUidForWorkloadEntry(ctx.mesh.clusterId, we.namespace, we.name),
    name: we.name,
    namespace: we.namespace,
  };
  const bytes = ipToBytes(we.address);
  if (bytes) w.addresses = [bytes];
  else w.hostname = we.address;
  common(ctx, w, we.namespace, we.labels, workloadNetwork(ctx, we.labels, nsLabels, we.network), captured(we.labels, we.annotations, nsLabels, false));
  w.serviceAccount = we.serviceAccount;
  const c = canonical(we.labels, we.name);
  w.canonicalName = c.name;
  w.canonicalRevision = c.revision;
  w.workloadType = WorkloadType.POD;
  w.workloadName = we.name;
  const svcs = services(ctx, we.namespace, we.labels, (name, t) => {
    if (name && we.ports[name] !== undefined) return we.ports[name];
    if (typeof t === 'number') return t;
    return we.ports[t];
  });
  if (svcs) w.services = svcs;
  if (we.locality) {
    const [region, zone, subzone] = we.locality.split('/');
    const loc: LocalityMsg = {};
    if (region) loc.region = region;
    if (zone) loc.zone = zone;
    if (subzone) loc.subzone = subzone;
    if (Object.keys(loc).length > 0) w.locality = loc;
  }
  if (we.weight !== undefined && we.weight > 0) w.capacity = { value: we.weight };
  return sortKeys(w);
}

/** Proto field order, so messages built along different code paths look identical when printed. */
const ORDER: (keyof WorkloadMsg)[] = [
  'uid', 'name', 'namespace', 'addresses', 'hostname', 'network', 'tunnelProtocol', 'trustDomain', 'serviceAccount',
  'waypoint', 'networkGateway', 'node', 'canonicalName', 'canonicalRevision', 'workloadType', 'workloadName',
  'nativeTunnel', 'services', 'authorizationPolicies', 'status', 'clusterId', 'locality', 'networkMode', 'capacity',
];

export function sortKeys(w: WorkloadMsg): WorkloadMsg {
  const out: Record<string, unknown> = {};
  for (const k of ORDER) if (w[k] !== undefined) out[k] = w[k];
  return out as unknown as WorkloadMsg;
}
