import { ipToBytes, LABEL } from '../model';
import type { AuthorizationPolicyObj, GatewayObj, PeerAuthenticationObj, ServiceObj, StringMap } from '../model';
import type { RegistrySnapshot } from '../registry';
import { SelectorIndex } from './selector-index';
import type { GatewayAddressMsg, LocalityMsg, MeshContext, PortListMsg, PortMsg } from './types';

/**
 * Lookups derived from the small kinds of a snapshot (services, policies,
 * gateways: thousands at most), rebuilt per generate call. Pods are never
 * indexed here, so a call stays cheap at 50k pods.
 */
/**
 * A pod's whole Workload.services map when it only depends on which
 * Services select it (every port of theirs has a number targetPort), shared
 * by those pods; null when a named port needs the pod's own resolution.
 */
export type SharedServices = Record<string, PortListMsg> | null;

function sharedServices(selected: readonly SelectingService[]): SharedServices {
  const out: Record<string, PortListMsg> = {};
  for (const s of selected) {
    if (!s.ports) return null;
    out[s.key] = s.ports;
  }
  return out;
}

/** A selecting Service with what every workload lookup needs precomputed. */
export interface SelectingService {
  svc: ServiceObj;
  /** Workload.services key: "ns/hostname". */
  key: string;
  selector: [string, string][];
  /**
   * The Workload.services entry when every port's targetPort is a number (so
   * it is the same for every workload), built once and shared by them; the
   * messages are immutable once generated.
   */
  ports?: PortListMsg;
}

/**
 * What every workload of one namespace reads from its Namespace object and
 * the context's per-namespace indexes, gathered once per namespace
 * (selection.ts builds it): a pod then costs one Map lookup by its
 * (interned) namespace name instead of one per index. Valid while the
 * snapshot's namespace map and the context's sources are the ones it was
 * built from (reuseContext drops the memo otherwise).
 */
export interface NamespaceInfo {
  readonly labels: StringMap | undefined;
  /** "<cluster>//Pod/<ns>/": the start of every pod uid of the namespace (workloadUidForPod). */
  readonly podUidPrefix: string;
  readonly services: SelectorIndex<SelectingService, SharedServices> | undefined;
  readonly policies: SelectorIndex<string> | undefined;
  /**
   * The one label a workload's Service and policy selection depends on
   * here (every selector of the namespace's Services, its own and the
   * root's selector policies tests that label alone, and no selector
   * PeerAuthentication applies); '' when none does; null when the
   * selection depends on more than one label.
   */
  readonly selectionLabel: string | null;
  /** Memo (filled on use): the selection by that label's value (undefined: label absent). */
  readonly selections: Map<string | undefined, Selection>;
}

/** A workload's Workload.services map and authorization_policies list, shared by the workloads that have them. */
export interface Selection {
  readonly services: Record<string, PortListMsg> | undefined;
  readonly policies: readonly string[] | undefined;
}

export interface TranslateContext {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  servicesByNs: Map<string, ServiceObj[]>;
  /** Services with a selector (not ExternalName), by namespace, sorted by name. */
  selectingByNs: Map<string, SelectingService[]>;
  /** Selector-based AuthorizationPolicies, by namespace. */
  selectorPoliciesByNs: Map<string, AuthorizationPolicyObj[]>;
  peerAuthsByNs: Map<string, PeerAuthenticationObj[]>;
  /** Local network gateway per network (east-west gateways with an HBONE listener). */
  networkGateways: Map<string, GatewayAddressMsg>;
  /** Pod key -> Services whose (not controller-managed) EndpointSlices list the Pod, sorted by name. */
  sliceServicesByPod: Map<string, SelectingService[]>;
  /** selectingByNs indexed by selector label (same order per namespace). */
  selectingIndexByNs: Map<string, SelectorIndex<SelectingService, SharedServices>>;
  /** Keys "ns/name" of the selector AuthorizationPolicies a workload can reference (ALLOW/DENY, no targetRef). */
  policyIndexByNs: Map<string, SelectorIndex<string>>;
  /** Memo (filled on use): PeerAuthentication-derived keys of namespaces without selector PAs. */
  peerAuthKeysByNs: Map<string, readonly string[]>;
  /** The root namespace's selector AuthorizationPolicies, which every workload outside it is also matched against. */
  rootPolicyIndex: SelectorIndex<string> | undefined;
  /** Memo (filled on use, one lookup per workload): what a workload reads from its namespace, by namespace name. */
  namespaceInfo: Map<string, NamespaceInfo>;
  /** Memo (filled on use): the Locality of a Node object (null: none), shared by its pods. */
  localityByNode: WeakMap<object, LocalityMsg | null>;
  /** Memo (filled on use): localityByNode by node name, for one `snapshot.nodes` map (a new one starts empty). */
  localityByNodeName: Map<string, LocalityMsg | null>;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export const EAST_WEST_CLASSES = new Set(['istio-eastwest', 'istio-east-west']);
const HBONE_PORT = 15008;

/**
 * The east-west gateway address for a network, as istiod's network gateway
 * (istio pilot/pkg/serviceregistry/ambient/multicluster.go): IP → address{network, ip}, hostname →
 * hostname{ns, host}; hbone_mtls_port from the HBONE listener. Gateways are
 * ranked by namespace/name so the choice is deterministic.
 */
function gatewayAddress(gw: GatewayObj, network: string): GatewayAddressMsg | undefined {
  const hbone = gw.listeners.find((l) => l.protocol.toUpperCase() === 'HBONE' || l.port === HBONE_PORT);
  if (!hbone) return undefined;
  const addr = gw.addresses[0] ?? gw.statusAddresses[0];
  if (!addr) return undefined;
  const out: GatewayAddressMsg = { hboneMtlsPort: hbone.port };
  const bytes = addr.type === 'Hostname' ? undefined : ipToBytes(addr.value);
  if (bytes) out.address = network ? { network, address: bytes } : { address: bytes };
  else if (addr.type === 'Hostname') out.hostname = { namespace: gw.namespace, hostname: addr.value };
  else return undefined;
  return out;
}

/** The snapshot maps (and mesh) a context's lookups are derived from. */
function sources(snapshot: RegistrySnapshot, mesh: MeshContext): readonly unknown[] {
  return [
    snapshot.services,
    snapshot.authorizationPolicies,
    snapshot.peerAuthentications,
    snapshot.gateways,
    snapshot.endpointSlices,
    mesh.domainSuffix,
    mesh.network,
    mesh.rootNamespace,
    mesh.clusterId,
  ];
}

/**
 * buildContext, reusing `prev`'s lookups when every map they derive from is
 * the very same object (the registry hands out the same frozen map until
 * that kind changes) and the mesh fields they read are equal: under pod
 * churn this skips re-indexing every service and policy on each push.
 */
export function reuseContext(
  snapshot: RegistrySnapshot,
  mesh: MeshContext,
  prev: TranslateContext | undefined,
): TranslateContext {
  if (prev) {
    const a = sources(prev.snapshot, prev.mesh);
    const b = sources(snapshot, mesh);
    if (a.every((x, i) => x === b[i])) {
      const localityByNodeName =
        prev.snapshot.nodes === snapshot.nodes ? prev.localityByNodeName : new Map<string, LocalityMsg | null>();
      // A NamespaceInfo holds the Namespace's labels: a new namespace map starts afresh.
      const nsInfo =
        prev.snapshot.namespaces === snapshot.namespaces ? prev.namespaceInfo : new Map<string, NamespaceInfo>();
      return { ...prev, snapshot, mesh, localityByNodeName, namespaceInfo: nsInfo };
    }
  }
  return buildContext(snapshot, mesh);
}

export function buildContext(snapshot: RegistrySnapshot, mesh: MeshContext): TranslateContext {
  const servicesByNs = new Map<string, ServiceObj[]>();
  for (const s of snapshot.services.values()) push(servicesByNs, s.namespace, s);
  for (const l of servicesByNs.values()) l.sort(byName);
  const selectingByNs = new Map<string, SelectingService[]>();
  for (const [ns, l] of servicesByNs) {
    const sel = l
      .filter((s) => s.selector && s.type !== 'ExternalName')
      .map((svc) => selecting(svc, `${ns}/${svc.name}.${ns}.svc.${mesh.domainSuffix}`, Object.entries(svc.selector!)));
    if (sel.length > 0) selectingByNs.set(ns, sel);
  }
  const selectingIndexByNs = new Map<string, SelectorIndex<SelectingService, SharedServices>>();
  for (const [ns, l] of selectingByNs) {
    const idx = new SelectorIndex<SelectingService, SharedServices>(sharedServices);
    for (const s of l) idx.add(s, s.selector);
    selectingIndexByNs.set(ns, idx);
  }
  const selectorPoliciesByNs = new Map<string, AuthorizationPolicyObj[]>();
  for (const p of snapshot.authorizationPolicies.values()) if (p.selector) push(selectorPoliciesByNs, p.namespace, p);
  for (const l of selectorPoliciesByNs.values()) l.sort(byName);
  const policyIndexByNs = new Map<string, SelectorIndex<string>>();
  for (const [ns, l] of selectorPoliciesByNs) {
    const idx = new SelectorIndex<string>();
    // Only ALLOW/DENY policies without targetRef reach ztunnel (see convertAuthorizationPolicy).
    for (const p of l) {
      if (p.hasTargetRef || (p.action !== 'ALLOW' && p.action !== 'DENY')) continue;
      idx.add(`${p.namespace}/${p.name}`, Object.entries(p.selector!));
    }
    policyIndexByNs.set(ns, idx);
  }
  const peerAuthsByNs = new Map<string, PeerAuthenticationObj[]>();
  for (const p of snapshot.peerAuthentications.values()) push(peerAuthsByNs, p.namespace, p);
  for (const l of peerAuthsByNs.values()) l.sort(byName);
  const networkGateways = new Map<string, GatewayAddressMsg>();
  const gws = [...snapshot.gateways.values()]
    .filter((g) => EAST_WEST_CLASSES.has(g.gatewayClassName))
    .sort((a, b) => byName({ name: `${a.namespace}/${a.name}` }, { name: `${b.namespace}/${b.name}` }));
  for (const g of gws) {
    const net = g.labels[LABEL.network] ?? mesh.network;
    if (networkGateways.has(net)) continue;
    const a = gatewayAddress(g, net);
    if (a) networkGateways.set(net, a);
  }
  const sliceServicesByPod = new Map<string, SelectingService[]>();
  snapshot.endpointSlices.forEach((es) => {
    if (!es.podRefs || !es.serviceName) return;
    const svc = snapshot.services.get(`${es.namespace}/${es.serviceName}`);
    if (!svc || svc.type === 'ExternalName') return;
    const entry = selecting(svc, `${es.namespace}/${svc.name}.${es.namespace}.svc.${mesh.domainSuffix}`, []);
    for (const p of es.podRefs) {
      const l = sliceServicesByPod.get(p);
      if (!l) sliceServicesByPod.set(p, [entry]);
      else if (!l.some((x) => x.key === entry.key)) l.push(entry);
    }
  });
  for (const l of sliceServicesByPod.values()) l.sort((a, b) => byName(a.svc, b.svc));
  return {
    snapshot,
    mesh,
    servicesByNs,
    selectingByNs,
    selectorPoliciesByNs,
    peerAuthsByNs,
    networkGateways,
    sliceServicesByPod,
    selectingIndexByNs,
    policyIndexByNs,
    peerAuthKeysByNs: new Map(),
    rootPolicyIndex: policyIndexByNs.get(mesh.rootNamespace),
    namespaceInfo: new Map(),
    localityByNode: new WeakMap(),
    localityByNodeName: new Map(),
  };
}

function selecting(svc: ServiceObj, key: string, selector: [string, string][]): SelectingService {
  const s: SelectingService = { svc, key, selector };
  const ports: PortMsg[] = [];
  for (const p of svc.ports) {
    if (typeof p.targetPort !== 'number') return s;
    // What services() in workload.ts builds for a number targetPort: that number, whatever the workload.
    ports.push({ servicePort: p.port, targetPort: p.targetPort });
  }
  s.ports = ports.length > 0 ? { ports } : {};
  return s;
}

/** Kubernetes equality-based selector: every selector label present with the same value. */
export function selectorMatches(selector: StringMap, labels: StringMap): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}
