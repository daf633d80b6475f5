/** One watched resource type: where it lives in the API and how to slim it. */
export interface KindSpec {
  kind: string;
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** Served by a CRD that may not be installed yet (404 → wait for it). */
  crd: boolean;
}

export const apiVersionOf = (k: KindSpec): string => (k.group ? `${k.group}/${k.version}` : k.version);

/** Collection path (all namespaces), e.g. /api/v1/pods, /apis/gateway.networking.k8s.io/v1/gateways. */
export function collectionPath(k: KindSpec): string {
  return k.group ? `/apis/${k.group}/${k.version}/${k.plural}` : `/api/${k.version}/${k.plural}`;
}

/** The CRD object name that serves this kind, e.g. gateways.gateway.networking.k8s.io. */
export const crdName = (k: KindSpec): string => `${k.plural}.${k.group}`;

/** The source id handed to the registry store: one per kind. */
export const sourceIdOf = (k: KindSpec): string => `kube:${k.kind}`;

export const KINDS: Readonly<Record<string, KindSpec>> = {
  Namespace: { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', namespaced: false, crd: false },
  Service: { kind: 'Service', group: '', version: 'v1', plural: 'services', namespaced: true, crd: false },
  Pod: { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true, crd: false },
  Node: { kind: 'Node', group: '', version: 'v1', plural: 'nodes', namespaced: false, crd: false },
  EndpointSlice: {
    kind: 'EndpointSlice',
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    namespaced: true,
    crd: false,
  },
  Gateway: {
    kind: 'Gateway',
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'gateways',
    namespaced: true,
    crd: true,
  },
  AuthorizationPolicy: {
    kind: 'AuthorizationPolicy',
    group: 'security.istio.io',
    version: 'v1',
    plural: 'authorizationpolicies',
    namespaced: true,
    crd: true,
  },
  PeerAuthentication: {
    kind: 'PeerAuthentication',
    group: 'security.istio.io',
    version: 'v1',
    plural: 'peerauthentications',
    namespaced: true,
    crd: true,
  },
};

/** The default watched set, in the order reflectors start (namespaces first: others refer to them). */
export const DEFAULT_KINDS: readonly KindSpec[] = [
  KINDS.Namespace!,
  KINDS.Node!,
  KINDS.Service!,
  KINDS.EndpointSlice!,
  KINDS.Pod!,
  KINDS.Gateway!,
  KINDS.AuthorizationPolicy!,
  KINDS.PeerAuthentication!,
];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const META_KEEP = [
  'name',
  'namespace',
  'uid',
  'labels',
  'annotations',
  'resourceVersion',
  'generation',
  'ownerReferences',
  'deletionTimestamp',
  'creationTimestamp',
];
/** Written by `kubectl apply`; a full copy of the object, never needed for translation. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function slimMeta(meta: unknown): Obj {
  const out: Obj = {};
  if (!isObj(meta)) return out;
  for (const k of META_KEEP) if (meta[k] !== undefined) out[k] = meta[k];
  if (isObj(out.annotations) && LAST_APPLIED in out.annotations) {
    const { [LAST_APPLIED]: _drop, ...rest } = out.annotations;
    out.annotations = rest;
  }
  return out;
}

function slimPod(o: Obj, out: Obj): void {
  const spec = isObj(o.spec) ? o.spec : {};
  const s: Obj = {};
  for (const k of ['nodeName', 'serviceAccountName', 'hostNetwork']) if (spec[k] !== undefined) s[k] = spec[k];
  if (Array.isArray(spec.containers)) {
    s.containers = spec.containers.map((c: unknown) => {
      const cc: Obj = {};
      if (isObj(c)) {
        if (c.name !== undefined) cc.name = c.name;
        if (Array.isArray(c.ports)) cc.ports = c.ports;
      }
      return cc;
    });
  }
  out.spec = s;
  const status = isObj(o.status) ? o.status : {};
  const st: Obj = {};
  for (const k of ['podIP', 'podIPs', 'phase', 'conditions', 'hostIP']) if (status[k] !== undefined) st[k] = status[k];
  out.status = st;
}

function slimNode(o: Obj, out: Obj): void {
  if (o.spec !== undefined) out.spec = o.spec;
  if (isObj(o.status)) {
    // images/volumes lists are large and irrelevant to the mesh; addresses and readiness matter.
    const { images: _i, volumesInUse: _v, volumesAttached: _a, ...rest } = o.status;
    out.status = rest;
  }
}

/**
 * EndpointSlice: per endpoint only addresses, the ready condition and the
 * targetRef's kind/name/namespace (the store keeps at most a Pod's key);
 * hostname, nodeName, zone, hints and the rest of targetRef go.
 */
function slimEndpointSlice(o: Obj, out: Obj): void {
  if (o.addressType !== undefined) out.addressType = o.addressType;
  if (o.ports !== undefined) out.ports = o.ports;
  if (!Array.isArray(o.endpoints)) {
    if (o.endpoints !== undefined) out.endpoints = o.endpoints; // malformed: let the store reject it with a reason
    return;
  }
  out.endpoints = o.endpoints.map((e: unknown) => {
    if (!isObj(e)) return e;
    const ee: Obj = {};
    if (e.addresses !== undefined) ee.addresses = e.addresses;
    if (isObj(e.conditions) && e.conditions.ready !== undefined) ee.conditions = { ready: e.conditions.ready };
    if (isObj(e.targetRef))
      ee.targetRef = { kind: e.targetRef.kind, name: e.targetRef.name, namespace: e.targetRef.namespace };
    return ee;
  });
}

/**
 * Reduces an API object to what translation needs (managedFields and
 * last-applied copies dropped everywhere; Pods, Nodes and EndpointSlices pruned further) and
 * stamps apiVersion/kind, which list items lack.
 */
export function slim(k: KindSpec, o: Obj): Obj {
  const out: Obj = { apiVersion: apiVersionOf(k), kind: k.kind, metadata: slimMeta(o.metadata) };
  if (k.kind === 'Pod') slimPod(o, out);
  else if (k.kind === 'Node') slimNode(o, out);
  else if (k.kind === 'EndpointSlice') slimEndpointSlice(o, out);
  else {
    for (const [key, v] of Object.entries(o)) {
      if (key !== 'metadata' && key !== 'apiVersion' && key !== 'kind') out[key] = v;
    }
  }
  return out;
}
