import { ipToBytes, LABEL, ANNOTATION } from '../model';
import type { PodObj, StringMap, WorkloadEntryObj } from '../model';
import type { NamespaceInfo, TranslateContext } from './context';
import { namespaceInfo, policies, services, sharedSelection } from './selection';
import { NetworkMode, TunnelProtocol, WorkloadStatus, WorkloadType, workloadUidForWorkloadEntry } from './types';
import type { LocalityMsg, WorkloadMsg } from './types';

/**
 * Pod / WorkloadEntry → istio.workload.Workload with istiod's
 * podWorkloadBuilder semantics (istio pilot/pkg/serviceregistry/ambient/workloads.go).
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
export function workloadNetwork(
  ctx: TranslateContext,
  labels: StringMap,
  ns: StringMap | undefined,
  explicit?: string,
): string {
  return explicit || labels[LABEL.network] || ns?.[LABEL.network] || ctx.mesh.network;
}

const canonicalName = (labels: StringMap, workloadName: string): string =>
  labels[LABEL.canonicalName] || labels[LABEL.k8sAppName] || labels[LABEL.app] || workloadName;

const canonicalRevision = (labels: StringMap): string =>
  labels[LABEL.canonicalRevision] || labels[LABEL.k8sAppVersion] || labels[LABEL.version] || 'latest';

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
      if (hash && o.name.endsWith(hash))
        return o.name.endsWith(`-${hash}`) ? o.name.slice(0, -(hash.length + 1)) : o.name;
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

/**
 * A node's locality, built once per Node object and shared by the pods on
 * it; looked up by name in a memo that lives as long as the snapshot's node
 * map (context.ts), so a pod costs one Map lookup.
 */
function nodeLocality(ctx: TranslateContext, nodeName: string | undefined): LocalityMsg | undefined {
  if (!nodeName) return undefined;
  let loc = ctx.localityByNodeName.get(nodeName);
  if (loc !== undefined) return loc ?? undefined;
  const node = ctx.snapshot.nodes.get(nodeName);
  if (!node) return undefined;
  loc = ctx.localityByNode.get(node);
  if (loc === undefined) ctx.localityByNode.set(node, (loc = locality(node.labels) ?? null));
  ctx.localityByNodeName.set(nodeName, loc);
  return loc ?? undefined;
}

/**
 * workloadUidForPod from the namespace's prefix. `prefix + name` makes a rope
 * (ConsString) that V8 flattens when the uid is first hashed (CowMap's shard
 * hash); the scavenger then replaces the rope by its flat string
 * (short-cutting a cons whose second half is empty), so the output keeps one
 * string. Measured against [prefix, name].join(''), which builds the flat
 * string at once but through the array join builtin: retained memory the
 * same after a GC, translation faster (bench scenario translate, A/B in one
 * run; docs/design/translate-floor.md).
 */
const podUid = (info: NamespaceInfo, name: string): string => info.podUidPrefix + name;

/**
 * Workloads assign their fields in proto field order (the ORDER list below),
 * so messages print, compare and encode the same whichever path built them.
 */
export function buildPodWorkload(pod: PodObj, ctx: TranslateContext): WorkloadMsg | undefined {
  if (pod.ips.length === 0 || TERMINAL.has(pod.phase)) return undefined;
  // Reflect.construct returns any; PodWorkload fills `this: WorkloadMsg` (see its comment).
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- typed by PodWorkload's `this`
  const w: WorkloadMsg = Reflect.construct(PodWorkload, [pod, ctx]);
  return w;
}

/**
 * A pod's Workload, built by `new`: V8 sizes objects made by a constructor
 * for the fields its body assigns (in-object, trimmed after the first few
 * instances), where a literal grown field by field keeps most of them in a
 * separate property array re-allocated as it grows (measured at 50k pods:
 * 515 -> 484 retained bytes per resource, ~14 % less CPU per translation;
 * bench scenario translate). With the prototype set to Object.prototype the
 * result is a plain object like a literal: same prototype, same own keys in
 * the same order (workload.test.ts checks both).
 */
function PodWorkload(this: WorkloadMsg, pod: PodObj, ctx: TranslateContext): void {
  const { mesh } = ctx;
  const ns = pod.namespace;
  const labels = pod.labels;
  const info = namespaceInfo(ctx, ns);
  const nsLabels = info.labels;
  const net = workloadNetwork(ctx, labels, nsLabels);
  const native = labels[LABEL.tunnel] === 'http';
  const ips = pod.ips;
  this.uid = podUid(info, pod.name);
  this.name = pod.name;
  this.namespace = ns;
  // The registry's bytes (PodObj.ipBytes) when it kept them: no Buffer and array per pod and translation.
  this.addresses = pod.ipBytes ?? (ips.length === 1 ? [ipToBytes(ips[0]!)!] : ips.map((ip) => ipToBytes(ip)!));
  if (net) this.network = net;
  const hbone = native || captured(labels, pod.annotations, nsLabels, pod.hostNetwork);
  if (hbone) this.tunnelProtocol = TunnelProtocol.HBONE;
  if (mesh.trustDomain && mesh.trustDomain !== 'cluster.local') this.trustDomain = mesh.trustDomain;
  if (pod.serviceAccount !== undefined) this.serviceAccount = pod.serviceAccount;
  // A workload on another network is reached through that network's east-west gateway; local ones directly.
  if (net !== mesh.network) {
    const gw = ctx.networkGateways.get(net);
    if (gw) this.networkGateway = gw;
  }
  if (pod.nodeName) this.node = pod.nodeName;
  const wlName = podWorkloadName(pod);
  this.canonicalName = canonicalName(labels, wlName);
  this.canonicalRevision = canonicalRevision(labels);
  this.workloadType = WorkloadType.POD;
  this.workloadName = wlName;
  if (native) this.nativeTunnel = true;
  const listedBy = ctx.sliceServicesByPod.size > 0 ? ctx.sliceServicesByPod.get(`${ns}/${pod.name}`) : undefined;
  const shared = listedBy === undefined ? sharedSelection(ctx, ns, info, labels) : undefined;
  const svcs = shared ? shared.services : services(info, labels, undefined, pod.namedPorts, listedBy);
  if (svcs) this.services = svcs;
  const pols = shared ? shared.policies : policies(ctx, ns, info, labels);
  if (pols) this.authorizationPolicies = pols;
  if (!pod.ready || pod.deleting) this.status = WorkloadStatus.UNHEALTHY;
  if (mesh.clusterId) this.clusterId = mesh.clusterId;
  const loc = nodeLocality(ctx, pod.nodeName);
  if (loc) this.locality = loc;
  if (pod.hostNetwork) this.networkMode = NetworkMode.HOST_NETWORK;
}
PodWorkload.prototype = Object.prototype;

export function buildWorkloadEntryWorkload(we: WorkloadEntryObj, ctx: TranslateContext): WorkloadMsg | undefined {
  if (!we.address) return undefined;
  const { mesh } = ctx;
  const ns = we.namespace;
  const labels = we.labels;
  const info = namespaceInfo(ctx, ns);
  const nsLabels = info.labels;
  const net = workloadNetwork(ctx, labels, nsLabels, we.network);
  const w: WorkloadMsg = {
    uid: workloadUidForWorkloadEntry(mesh.clusterId, ns, we.name),
    name: we.name,
    namespace: ns,
  };
  const bytes = ipToBytes(we.address);
  if (bytes) w.addresses = [bytes];
  else w.hostname = we.address;
  if (net) w.network = net;
  if (captured(labels, we.annotations, nsLabels, false)) w.tunnelProtocol = TunnelProtocol.HBONE;
  if (mesh.trustDomain && mesh.trustDomain !== 'cluster.local') w.trustDomain = mesh.trustDomain;
  if (we.serviceAccount !== undefined) w.serviceAccount = we.serviceAccount;
  if (net !== mesh.network) {
    const gw = ctx.networkGateways.get(net);
    if (gw) w.networkGateway = gw;
  }
  w.canonicalName = canonicalName(labels, we.name);
  w.canonicalRevision = canonicalRevision(labels);
  w.workloadType = WorkloadType.POD;
  w.workloadName = we.name;
  const svcs = services(
    info,
    labels,
    (name, t) => {
      if (name && we.ports[name] !== undefined) return we.ports[name];
      if (typeof t === 'number') return t;
      return we.ports[t];
    },
    [],
  );
  if (svcs) w.services = svcs;
  const pols = policies(ctx, ns, info, labels);
  if (pols) w.authorizationPolicies = pols;
  if (mesh.clusterId) w.clusterId = mesh.clusterId;
  if (we.locality) {
    const [region, zone, subzone] = we.locality.split('/');
    const loc: LocalityMsg = {};
    if (region) loc.region = region;
    if (zone) loc.zone = zone;
    if (subzone) loc.subzone = subzone;
    if (Object.keys(loc).length > 0) w.locality = loc;
  }
  if (we.weight !== undefined && we.weight > 0) w.capacity = { value: we.weight };
  return w;
}

/** Proto field order, so messages built along different code paths look identical when printed. */
const ORDER: (keyof WorkloadMsg)[] = [
  'uid',
  'name',
  'namespace',
  'addresses',
  'hostname',
  'network',
  'tunnelProtocol',
  'trustDomain',
  'serviceAccount',
  'waypoint',
  'networkGateway',
  'node',
  'canonicalName',
  'canonicalRevision',
  'workloadType',
  'workloadName',
  'nativeTunnel',
  'services',
  'authorizationPolicies',
  'status',
  'clusterId',
  'locality',
  'networkMode',
  'capacity',
];

export function sortKeys(w: WorkloadMsg): WorkloadMsg {
  const out: WorkloadMsg = { uid: w.uid };
  for (const k of ORDER) if (w[k] !== undefined) copyField(out, w, k);
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- K ties to[k] to from[k]'s type
function copyField<K extends keyof WorkloadMsg>(to: WorkloadMsg, from: WorkloadMsg, k: K): void {
  to[k] = from[k];
}
