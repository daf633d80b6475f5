/**
 * Kubernetes-shaped YAML for the file registry of a rig cluster (the shapes ambientd's file source reads, as in
 * examples/). JSON is valid YAML, so objects are written as JSON documents: no quoting pitfalls.
 */
type Obj = Record<string, unknown>;
const doc = (o: Obj): string => `${JSON.stringify(o)}\n`;
export const join = (docs: string[]): string => docs.join('---\n');

export function namespace(name: string, labels: Record<string, string> = {}): string {
  return doc({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

export interface ServicePort {
  name: string;
  port: number;
  /** A number, or the name of a container port (resolved per pod). */
  targetPort: number | string;
  nodePort?: number;
}

export function service(o: {
  name: string;
  namespace: string;
  clusterIP: string;
  ports: ServicePort[];
  selector?: Record<string, string>;
  labels?: Record<string, string>;
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  trafficDistribution?: string;
}): string {
  return doc({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels ?? {} },
    spec: {
      type: o.type ?? 'ClusterIP',
      clusterIP: o.clusterIP,
      selector: o.selector ?? { app: o.name },
      ports: o.ports,
      ...(o.trafficDistribution ? { trafficDistribution: o.trafficDistribution } : {}),
    },
  });
}

export function pod(o: {
  name: string;
  namespace: string;
  ip: string;
  sa: string;
  labels: Record<string, string>;
  node?: string;
  containerPorts?: { name?: string; containerPort: number }[];
  ready?: boolean;
}): string {
  return doc({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels },
    spec: {
      ...(o.node ? { nodeName: o.node } : {}),
      serviceAccountName: o.sa,
      containers: [{ name: 'app', ports: o.containerPorts ?? [] }],
    },
    status: {
      phase: 'Running',
      podIP: o.ip,
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  });
}

export function node(name: string, internalIp: string): string {
  return doc({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        { type: 'InternalIP', address: internalIp },
      ],
    },
  });
}

/** An L4 AuthorizationPolicy; `from` lists source principals ("cluster.local/ns/x/sa/y") or namespaces. */
export function authorizationPolicy(o: {
  name: string;
  namespace: string;
  action: 'ALLOW' | 'DENY';
  selector?: Record<string, string>;
  principals?: string[];
  namespaces?: string[];
  ports?: string[];
}): string {
  const source: Obj = {};
  if (o.principals) source.principals = o.principals;
  if (o.namespaces) source.namespaces = o.namespaces;
  const rule: Obj = {};
  if (Object.keys(source).length > 0) rule.from = [{ source }];
  if (o.ports) rule.to = [{ operation: { ports: o.ports } }];
  return doc({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: o.name, namespace: o.namespace },
    spec: { ...(o.selector ? { selector: { matchLabels: o.selector } } : {}), action: o.action, rules: [rule] },
  });
}

export function peerAuthentication(o: { name: string; namespace: string; mode: 'STRICT' | 'PERMISSIVE' }): string {
  return doc({
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name: o.name, namespace: o.namespace },
    spec: { mtls: { mode: o.mode } },
  });
}

const ipAddresses = (o: { address: string; addresses?: string[] }): Obj[] =>
  (o.addresses ?? [o.address]).map((value) => ({ type: 'IPAddress', value }));

/**
 * This cluster's istio-eastwest Gateway (what it tells peers about its data plane, docs/design/peering-model.md).
 * `address` is the gateway's address on the peers' networks (`addresses`: several gateways); peers dial it on
 * 15008 (HBONE) and on xdsPort (the daemon's peering port).
 */
export function eastWestGateway(o: {
  cluster: string;
  network: string;
  address: string;
  addresses?: string[];
  xdsPort?: number;
  annotations?: Record<string, string>;
}): string {
  return doc({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: 'istio-eastwest',
      namespace: 'istio-gateways',
      labels: {
        'topology.istio.io/network': o.network,
        'topology.istio.io/cluster': o.cluster,
        'istio.io/expose-istiod': '15012',
      },
      annotations: o.annotations ?? {},
    },
    spec: {
      gatewayClassName: 'istio-eastwest',
      addresses: ipAddresses(o),
      listeners: [
        { name: 'cross-network', port: 15008, protocol: 'HBONE', tls: { mode: 'Passthrough' } },
        { name: 'xds-tls', port: o.xdsPort ?? 15012, protocol: 'TLS', tls: { mode: 'Passthrough' } },
      ],
    },
  });
}

/**
 * An istio-remote Gateway: a peer this cluster dials (xDS at address:xdsPort) and imports from; `addresses`
 * lists several gateways of the peer (all used by the data plane).
 */
export function remoteGateway(o: {
  cluster: string;
  network: string;
  address: string;
  addresses?: string[];
  xdsPort?: number;
  hbonePort?: number;
  annotations?: Record<string, string>;
}): string {
  return doc({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: `istio-remote-peer-${o.cluster}`,
      namespace: 'istio-gateways',
      labels: { 'topology.istio.io/network': o.network, 'topology.istio.io/cluster': o.cluster },
      annotations: { 'gateway.istio.io/service-account': 'istio-eastwest', ...o.annotations },
    },
    spec: {
      gatewayClassName: 'istio-remote',
      addresses: ipAddresses(o),
      listeners: [
        { name: 'cross-network', port: o.hbonePort ?? 15008, protocol: 'HBONE', tls: { mode: 'Passthrough' } },
        { name: 'xds-tls', port: o.xdsPort ?? 15012, protocol: 'TLS', tls: { mode: 'Passthrough' } },
      ],
    },
  });
}
