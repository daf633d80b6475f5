import type { PodObj, StringMap } from '../model';
import type { NamespaceInfo, SelectingService, Selection, TranslateContext } from './context';
import { peerAuthKeysDependOnLabels, peerAuthKeysFor } from './peer-auth';
import { workloadUidForPod } from './types';
import type { PortListMsg, PortMsg } from './types';

/**
 * A workload's Service and policy selection (Workload.services,
 * Workload.authorization_policies), and the per-namespace lookups it uses.
 */

/** The NamespaceInfo of `ns`, built on first use. */
export function namespaceInfo(ctx: TranslateContext, ns: string): NamespaceInfo {
  let info = ctx.namespaceInfo.get(ns);
  if (info === undefined) {
    const services = ctx.selectingIndexByNs.get(ns);
    const policies = ctx.policyIndexByNs.get(ns);
    const root = ns !== ctx.mesh.rootNamespace ? ctx.rootPolicyIndex : undefined;
    // The label all three indexes test alone; '' while none tests any.
    let label: string | null = '';
    for (const l of [services?.soleLabel(), policies?.soleLabel(), root?.soleLabel()]) {
      if (l === undefined || l === '') continue;
      if (l === null || (label !== '' && label !== l)) {
        label = null;
        break;
      }
      label = l;
    }
    info = {
      labels: ctx.snapshot.namespaces.get(ns)?.labels,
      podUidPrefix: workloadUidForPod(ctx.mesh.clusterId, ns, ''),
      services,
      policies,
      selectionLabel: peerAuthKeysDependOnLabels(ctx, ns) ? null : label,
      selections: new Map(),
    };
    ctx.namespaceInfo.set(ns, info);
  }
  return info;
}

/**
 * Shared pieces are frozen once, when first built: every workload holding
 * them sees a write as a TypeError (strict mode) instead of a change to its
 * peers' messages. Nothing downstream writes output messages (push, peering
 * and xds read them); this makes that a checked fact for the shared ones.
 */
function freezeServices(m: Record<string, PortListMsg> | undefined): Record<string, PortListMsg> | undefined {
  if (m === undefined || Object.isFrozen(m)) return m;
  for (const k in m) {
    const l = m[k]!;
    if (l.ports) for (const p of l.ports) Object.freeze(p);
    Object.freeze(l.ports);
    Object.freeze(l);
  }
  return Object.freeze(m);
}

const freezeList = (l: readonly string[] | undefined): readonly string[] | undefined => l && Object.freeze(l);

/**
 * A pod's selection when it depends on one label's value only: looked up
 * by that value, built by the general path on first use, then shared by
 * every pod of the namespace with that value (one keyed load and one Map
 * lookup instead of walking the Service and policy indexes). Undefined
 * when the pod needs the general path: a selection on several labels, a
 * Service listing the pod in an EndpointSlice, or a named target port
 * resolved through the pod's own ports.
 */
export function sharedSelection(
  ctx: TranslateContext,
  ns: string,
  info: NamespaceInfo,
  labels: StringMap,
): Selection | undefined {
  const label = info.selectionLabel;
  if (label === null) return undefined;
  const value = label === '' ? undefined : labels[label];
  let sel = info.selections.get(value);
  if (sel === undefined) {
    const svcs = info.services?.matchDerived(labels);
    // null: a named target port, resolved per pod.
    if (svcs === null) return undefined;
    sel = Object.freeze({ services: freezeServices(svcs), policies: freezeList(policies(ctx, ns, info, labels)) });
    info.selections.set(value, sel);
  }
  return sel;
}

type Resolve = (svcPortName: string | undefined, target: number | string) => number | undefined;

/** A pod's named target port: the last container port of that name (what a Map built from the list holds). */
function podPort(namedPorts: PodObj['namedPorts'], t: number | string): number | undefined {
  if (typeof t === 'number') return t;
  for (let i = namedPorts.length - 1; i >= 0; i--) if (namedPorts[i]!.name === t) return namedPorts[i]!.port;
  return undefined;
}

/**
 * One Service's Workload.services entry, target ports resolved for this
 * workload: by `resolve` (WorkloadEntries), else through a pod's named ports.
 */
function servicePorts(
  s: SelectingService,
  resolve: Resolve | undefined,
  namedPorts: PodObj['namedPorts'],
): PortListMsg {
  // Every targetPort a number: a pod's resolution cannot change it, so the shared entry is the answer.
  if (!resolve && s.ports) return s.ports;
  const ports: PortMsg[] = [];
  for (const p of s.svc.ports) {
    const target = resolve ? resolve(p.name, p.targetPort) : podPort(namedPorts, p.targetPort);
    if (target === undefined) continue; // unresolvable named port: dropped, as istiod does
    ports.push({ servicePort: p.port, targetPort: target });
  }
  return ports.length > 0 ? { ports } : {};
}

/** services map: selected Services in the same namespace, keyed "ns/hostname", ports resolved for this workload. */
export function services(
  info: NamespaceInfo,
  labels: StringMap,
  resolve: Resolve | undefined,
  namedPorts: PodObj['namedPorts'],
  /**
   * Pods only: Services that list this pod in an EndpointSlice without selecting it (istiod's
   * matchingServicesWithoutSelectors).
   */
  listedBy?: readonly SelectingService[],
): Record<string, PortListMsg> | undefined {
  const idx = info.services;
  if (!resolve && !listedBy) {
    // A pod that only Services with number target ports select: the map its peers share.
    const shared = idx?.matchDerived(labels);
    if (shared !== null) return shared;
  }
  let out: Record<string, PortListMsg> | undefined;
  const selected = idx?.match(labels);
  if (selected) {
    out = {};
    for (let i = 0; i < selected.length; i++) out[selected[i]!.key] = servicePorts(selected[i]!, resolve, namedPorts);
  }
  // Already selected: the slice adds nothing.
  if (listedBy) {
    for (const s of listedBy) if (!out?.[s.key]) (out ??= {})[s.key] = servicePorts(s, resolve, namedPorts);
  }
  return out;
}

/** WORKLOAD_SELECTOR AuthorizationPolicies (own or root namespace) + PeerAuthentication-derived keys, sorted. */
export function policies(
  ctx: TranslateContext,
  ns: string,
  info: NamespaceInfo,
  labels: StringMap,
): readonly string[] | undefined {
  // One namespace's keys come sorted ("ns/" + names in name order) and may be a shared array.
  const own = info.policies?.match(labels);
  const fromRoot = ns !== ctx.mesh.rootNamespace ? ctx.rootPolicyIndex?.match(labels) : undefined;
  const pa = peerAuthKeysFor(ctx, ns, labels);
  const parts = (own ? 1 : 0) + (fromRoot ? 1 : 0) + (pa.length > 0 ? 1 : 0);
  if (parts === 0) return undefined;
  if (parts === 1) return own ?? fromRoot ?? pa;
  const keys = [...(own ?? []), ...(fromRoot ?? []), ...pa].sort();
  // A PA-derived key can repeat a policy's.
  let n = 1;
  for (let i = 1; i < keys.length; i++) if (keys[i] !== keys[n - 1]) keys[n++] = keys[i]!;
  keys.length = n;
  return keys;
}
