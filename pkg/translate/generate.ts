import { CowMap, FrozenMap } from '../registry';
import type { StringMap } from '../model';
import { AddressTableWriter } from './address-table';
import type { ChangeSet, RegistrySnapshot } from '../registry';
import { convertAuthorizationPolicy } from './authz';
import { buildContext, reuseContext, selectorMatches } from './context';
import type { TranslateContext } from './context';
import { msgEqual } from './equal';
import { KeySet } from './key-set';
import { convertPeerAuthentication, staticStrictKey, staticStrictPolicy } from './peer-auth';
import { buildEndpointSliceWorkloads } from './endpoint-slice';
import { buildService } from './service';
import {
  CONVERTED_PA_PREFIX,
  STATIC_STRICT_POLICY,
  serviceResourceName,
  workloadUidForEndpoint,
  workloadUidForPod,
  workloadUidForWorkloadEntry,
} from './types';
import type { AddressMsg, AuthorizationMsg, LocalDelta, LocalOutput, MeshContext } from './types';
import { buildPodWorkload, buildWorkloadEntryWorkload, workloadNetwork } from './workload';

/** The writable side of an output map: a CowMap, or an AddressTableWriter for Addresses. */
interface MapWriter<V> {
  get(key: string): V | undefined;
  set(key: string, v: V): void;
  delete(key: string): boolean;
  freeze(): ReadonlyMap<string, V>;
}

/** A CowMap starting from `prev` (shared until written when it is a FrozenMap). */
function thawMap<V>(prev: ReadonlyMap<string, V> | undefined): CowMap<V> {
  if (prev instanceof FrozenMap) return (prev as FrozenMap<V>).thaw();
  const m = new CowMap<V>();
  prev?.forEach((v, k) => m.set(k, v));
  return m;
}

/** Accumulates one generation's writes against the previous output and records the diff. */
class Writer<V> {
  readonly changed = new Set<string>();
  readonly removed = new Set<string>();
  constructor(
    private readonly prev: ReadonlyMap<string, V> | undefined,
    readonly map: MapWriter<V>,
  ) {}
  /** Sets (or with undefined, removes) one resource, recording only real differences. */
  put(key: string, v: V | undefined): void {
    const old = this.map.get(key);
    if (v === undefined) {
      if (old === undefined) return;
      this.map.delete(key);
      this.changed.delete(key);
      if (this.prev?.has(key)) this.removed.add(key);
      return;
    }
    if (old !== undefined && msgEqual(old, v)) return;
    this.map.set(key, v);
    this.removed.delete(key);
    if (!this.prev?.has(key) || !msgEqual(this.prev.get(key), v)) this.changed.add(key);
    else this.changed.delete(key);
  }
}

const isPaDerived = (key: string, root: string): boolean =>
  key === `${root}/${STATIC_STRICT_POLICY}` || key.slice(key.indexOf('/') + 1).startsWith(CONVERTED_PA_PREFIX);

function podWorkload(ctx: TranslateContext, key: string, addr: Writer<AddressMsg>): void {
  const [ns, name] = key.split('/') as [string, string];
  const pod = ctx.snapshot.pods.get(key);
  const w = pod ? buildPodWorkload(pod, ctx) : undefined;
  addr.put(workloadUidForPod(ctx.mesh.clusterId, ns, name), w ? { workload: w } : undefined);
}

/**
 * Full generation: every pod's Address, in a table keyed by the pod's registry key (AddressTable). A workload's
 * uid is the name podWorkload derives from that key, and names never collide (each kind has its own prefix and
 * unique keys), so nothing is compared: finish() computes the diff.
 */
function allPodWorkloads(ctx: TranslateContext): AddressTableWriter {
  return AddressTableWriter.forPods(ctx.mesh.clusterId, ctx.snapshot.pods, (p) => {
    const w = buildPodWorkload(p, ctx);
    return w ? { workload: w } : undefined;
  });
}

function weWorkload(ctx: TranslateContext, key: string, addr: Writer<AddressMsg>): void {
  const [ns, name] = key.split('/') as [string, string];
  const we = ctx.snapshot.workloadEntries.get(key);
  const w = we ? buildWorkloadEntryWorkload(we, ctx) : undefined;
  addr.put(workloadUidForWorkloadEntry(ctx.mesh.clusterId, ns, name), w ? { workload: w } : undefined);
}

/**
 * Rebuilds one EndpointSlice's workloads: withdraws the uids it produced last
 * time (from the previous output's side index, or a prefix scan when that is
 * missing) and records the new ones in `uids`.
 */
function sliceWorkloads(
  ctx: TranslateContext,
  key: string,
  addr: Writer<AddressMsg>,
  uids: Map<string, readonly string[]>,
  prev: LocalOutput | undefined,
): void {
  const [ns, name] = key.split('/') as [string, string];
  let old = prev?.endpointSliceUids?.get(key);
  if (prev && !prev.endpointSliceUids) {
    const prefix = workloadUidForEndpoint(ctx.mesh.clusterId, ns, name, '');
    old = [...prev.addresses.keys()].filter((k) => k.startsWith(prefix));
  }
  const slice = ctx.snapshot.endpointSlices.get(key);
  const ws = slice ? buildEndpointSliceWorkloads(slice, ctx) : [];
  const now = new Set(ws.map((w) => w.uid));
  for (const u of old ?? []) if (!now.has(u)) addr.put(u, undefined);
  for (const w of ws) addr.put(w.uid, { workload: w });
  if (ws.length > 0) uids.set(key, [...now]);
  else uids.delete(key);
}

function service(ctx: TranslateContext, key: string, addr: Writer<AddressMsg>): void {
  const [ns, name] = key.split('/') as [string, string];
  const svc = ctx.snapshot.services.get(key);
  const s = svc ? buildService(svc, ctx) : undefined;
  addr.put(serviceResourceName(name, ns, ctx.mesh.domainSuffix), s ? { service: s } : undefined);
}

function policy(ctx: TranslateContext, key: string, authz: Writer<AuthorizationMsg>): void {
  const ap = ctx.snapshot.authorizationPolicies.get(key);
  authz.put(key, ap ? convertAuthorizationPolicy(ap, ctx.mesh.rootNamespace) : undefined);
}

/** All PeerAuthentication-derived policies: few, and each depends on its namespace's and the root's PAs. */
function peerAuthPolicies(
  ctx: TranslateContext,
  authz: Writer<AuthorizationMsg>,
  prev: ReadonlyMap<string, AuthorizationMsg> | undefined,
): void {
  const root = ctx.mesh.rootNamespace;
  const want = new Map<string, AuthorizationMsg>();
  // istiod sends the static strict policy whenever any PeerAuthentication exists.
  if (ctx.snapshot.peerAuthentications.size > 0) want.set(staticStrictKey(root), staticStrictPolicy(root));
  for (const pa of ctx.snapshot.peerAuthentications.values()) {
    const m = convertPeerAuthentication(ctx, pa);
    if (m) want.set(`${m.namespace}/${m.name}`, m);
  }
  for (const k of prev?.keys() ?? []) if (isPaDerived(k, root) && !want.has(k)) authz.put(k, undefined);
  for (const [k, m] of want) authz.put(k, m);
}

function full(ctx: TranslateContext, prev: LocalOutput | undefined): LocalDelta {
  // Start from an empty map but diff against the previous output.
  const addr = new Writer<AddressMsg>(undefined, allPodWorkloads(ctx));
  const authz = new Writer<AuthorizationMsg>(undefined, new CowMap());
  ctx.snapshot.workloadEntries.forEach((_w, k) => weWorkload(ctx, k, addr));
  for (const k of ctx.snapshot.services.keys()) service(ctx, k, addr);
  const uids = new Map<string, readonly string[]>();
  for (const k of ctx.snapshot.endpointSlices.keys()) sliceWorkloads(ctx, k, addr, uids, undefined);
  for (const k of ctx.snapshot.authorizationPolicies.keys()) policy(ctx, k, authz);
  peerAuthPolicies(ctx, authz, undefined);
  return finish(addr.map, authz.map, uids, prev, ctx);
}

function finish(
  addrMap: MapWriter<AddressMsg>,
  authzMap: MapWriter<AuthorizationMsg>,
  endpointSliceUids: ReadonlyMap<string, readonly string[]>,
  prev: LocalOutput | undefined,
  ctx: TranslateContext,
): LocalDelta {
  const addresses = addrMap.freeze();
  const authorizations = authzMap.freeze();
  const diff = <V>(now: ReadonlyMap<string, V>, before: ReadonlyMap<string, V> | undefined) => {
    // Nothing before: everything is new, and the frozen map's keys are that set.
    if (!before) return { changed: new KeySet(now), removed: new Set<string>() };
    const changed = new Set<string>();
    const removed = new Set<string>();
    // forEach: no iterator object or [k, v] pair per entry (50k of them at scale).
    now.forEach((v, k) => !msgEqual(before.get(k), v) && changed.add(k));
    before.forEach((_v, k) => !now.has(k) && removed.add(k));
    return { changed, removed };
  };
  const a = diff(addresses, prev?.addresses);
  const z = diff(authorizations, prev?.authorizations);
  return {
    output: { addresses, authorizations, endpointSliceUids, context: ctx },
    changedAddresses: a.changed,
    removedAddresses: a.removed,
    changedAuthorizations: z.changed,
    removedAuthorizations: z.removed,
  };
}

/** A selector-based policy change: which workloads may have gained or lost the reference. */
interface PolicyChange {
  key: string;
  ns: string;
  selector: StringMap | undefined;
}

/** Did the previous output list `key` in this workload's authorization_policies? */
function referenced(prev: ReadonlyMap<string, AddressMsg>, uid: string, key: string): boolean {
  const a = prev.get(uid);
  return a !== undefined && 'workload' in a && (a.workload.authorizationPolicies?.includes(key) ?? false);
}

/**
 * Translates a registry snapshot into ztunnel's resources. Pure: reads only
 * its arguments. Given the previous output and the ChangeSet that led from
 * the previous snapshot to this one, it recomputes only what those changes
 * can affect:
 *  - Pod / WorkloadEntry → that workload;
 *  - Service → the service, and every workload of its namespace (its old or
 *    new selector may have matched any of them);
 *  - Namespace → its workloads; Node → the pods on it;
 *  - AuthorizationPolicy → the policy, and the workloads that referenced it
 *    before or that its selector matches now (only selector policies are
 *    listed in Workload.authorization_policies);
 *  - PeerAuthentication → all PA-derived policies, and the workloads of its
 *    namespace (every workload for the root namespace);
 *  - Gateway → the workloads on networks other than the local one (only
 *    those carry a network_gateway);
 *  - EndpointSlice → that slice's endpoint workloads, and the workloads of
 *    its namespace (the Pods it lists gain or lose its Service); a Service
 *    change also rebuilds the slices labelled with its name.
 * The property test checks this equals full regeneration.
 */
export function generateLocal(input: {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  previous?: LocalOutput;
  changes?: ChangeSet;
}): LocalDelta {
  const { snapshot, mesh, previous, changes } = input;
  // Full regeneration (the oracle the incremental path is tested against) always indexes afresh.
  if (!previous || !changes) return full(buildContext(snapshot, mesh), previous);
  const ctx = reuseContext(snapshot, mesh, previous.context as TranslateContext | undefined);

  const root = mesh.rootNamespace;
  const pods = new Set<string>();
  const wes = new Set<string>();
  const slices = new Set<string>();
  const changedServices: string[] = [];
  const nsAll = new Set<string>();
  const nodes = new Set<string>();
  const policyChanges: PolicyChange[] = [];
  let everyWorkload = false;
  let remoteNetworks = false;
  let paChanged = false;
  const addr = new Writer<AddressMsg>(previous.addresses, AddressTableWriter.from(mesh.clusterId, previous.addresses));
  const authz = new Writer<AuthorizationMsg>(previous.authorizations, thawMap(previous.authorizations));
  const nsOf = (key: string): string => key.slice(0, key.indexOf('/'));

  for (const [kind, keys] of changes.byKind) {
    for (const key of keys) {
      switch (kind) {
        case 'Pod':
          pods.add(key);
          break;
        case 'WorkloadEntry':
          wes.add(key);
          break;
        case 'Service':
          service(ctx, key, addr);
          nsAll.add(nsOf(key));
          changedServices.push(key);
          break;
        case 'EndpointSlice':
          slices.add(key);
          // Its Pod list (old or new) adds its Service to those Pods, all in the slice's namespace.
          // Controller-managed slices normalise to the same object under pod churn, so this is rare.
          nsAll.add(nsOf(key));
          break;
        case 'Namespace':
          nsAll.add(key);
          break;
        case 'Node':
          nodes.add(key);
          break;
        case 'AuthorizationPolicy':
          policy(ctx, key, authz);
          policyChanges.push({ key, ns: nsOf(key), selector: snapshot.authorizationPolicies.get(key)?.selector });
          break;
        case 'PeerAuthentication':
          paChanged = true;
          if (nsOf(key) === root) everyWorkload = true;
          else nsAll.add(nsOf(key));
          break;
        case 'Gateway':
          remoteNetworks = true;
          break;
        default:
          break;
      }
    }
  }
  if (paChanged) peerAuthPolicies(ctx, authz, previous.authorizations);

  // Whether a workload outside the explicit Pod/WorkloadEntry changes must be
  // recomputed. Cheap tests first; network and uid are only built when needed.
  const nsLabelCache = new Map<string, StringMap | undefined>();
  const nsLabels = (ns: string): StringMap | undefined => {
    if (!nsLabelCache.has(ns)) nsLabelCache.set(ns, snapshot.namespaces.get(ns)?.labels);
    return nsLabelCache.get(ns);
  };
  const affected = (
    ns: string,
    labels: StringMap,
    node: string | undefined,
    net: () => string,
    uid: () => string,
  ): boolean => {
    if (everyWorkload || nsAll.has(ns) || (node !== undefined && nodes.has(node))) return true;
    if (remoteNetworks && net() !== mesh.network) return true;
    for (const pc of policyChanges) {
      if (pc.ns !== root && pc.ns !== ns) continue;
      if (pc.selector && selectorMatches(pc.selector, labels)) return true;
      if (referenced(previous.addresses, uid(), pc.key)) return true;
    }
    return false;
  };
  const onePod = (k: string): void => {
    const p = snapshot.pods.get(k);
    if (!p || pods.has(k)) return;
    const hit = affected(
      p.namespace,
      p.labels,
      p.nodeName,
      () => workloadNetwork(ctx, p.labels, nsLabels(p.namespace)),
      () => workloadUidForPod(mesh.clusterId, p.namespace, p.name),
    );
    if (hit) pods.add(k);
  };
  const oneWe = (k: string): void => {
    const w = snapshot.workloadEntries.get(k);
    if (!w || wes.has(k)) return;
    const hit = affected(
      w.namespace,
      w.labels,
      undefined,
      () => workloadNetwork(ctx, w.labels, nsLabels(w.namespace), w.network),
      () => workloadUidForWorkloadEntry(mesh.clusterId, w.namespace, w.name),
    );
    if (hit) wes.add(k);
  };
  const clusterWide = everyWorkload || nodes.size > 0 || remoteNetworks || policyChanges.some((pc) => pc.ns === root);
  if (!clusterWide && snapshot.podsByNamespace && snapshot.workloadEntriesByNamespace) {
    // Only namespace-scoped causes: visit just those namespaces via the registry's index.
    const namespaces = new Set([...nsAll, ...policyChanges.map((pc) => pc.ns)]);
    for (const ns of namespaces) {
      snapshot.podsByNamespace.get(ns)?.forEach(onePod);
      snapshot.workloadEntriesByNamespace.get(ns)?.forEach(oneWe);
    }
  } else if (clusterWide || nsAll.size > 0 || policyChanges.length > 0) {
    // One scan over everything; forEach avoids generator overhead at 50k pods.
    snapshot.pods.forEach((_p, k) => onePod(k));
    snapshot.workloadEntries.forEach((_w, k) => oneWe(k));
  }
  for (const k of pods) podWorkload(ctx, k, addr);
  for (const k of wes) weWorkload(ctx, k, addr);

  // A slice's workloads depend on the slice and on its Service (existence, type, port names).
  if (changedServices.length > 0 && snapshot.endpointSlices.size > 0) {
    const svcs = new Set(changedServices);
    snapshot.endpointSlices.forEach((s, k) => {
      if (s.serviceName && svcs.has(`${s.namespace}/${s.serviceName}`)) slices.add(k);
    });
  }
  let endpointSliceUids = previous.endpointSliceUids ?? new Map<string, readonly string[]>();
  if (slices.size > 0) {
    const uids = new Map(endpointSliceUids);
    for (const k of slices) sliceWorkloads(ctx, k, addr, uids, previous);
    endpointSliceUids = uids;
  }

  return {
    output: { addresses: addr.map.freeze(), authorizations: authz.map.freeze(), endpointSliceUids, context: ctx },
    changedAddresses: addr.changed,
    removedAddresses: addr.removed,
    changedAuthorizations: authz.changed,
    removedAuthorizations: authz.removed,
  };
}
