import * as fs from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { KubeApi } from '../../pkg/kube';
import { waitFor } from '../../pkg/lifecycle';

type Obj = Record<string, unknown>;

/** plural and scope of every kind the e2e tests write. */
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  Node: { plural: 'nodes', namespaced: false },
  Service: { plural: 'services', namespaced: true },
  Pod: { plural: 'pods', namespaced: true },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  EndpointSlice: { plural: 'endpointslices', namespaced: true },
  Deployment: { plural: 'deployments', namespaced: true },
  ClusterRole: { plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  Gateway: { plural: 'gateways', namespaced: true },
  AuthorizationPolicy: { plural: 'authorizationpolicies', namespaced: true },
  PeerAuthentication: { plural: 'peerauthentications', namespaced: true },
  Lease: { plural: 'leases', namespaced: true },
};

export function objectPath(o: Obj): string {
  const apiVersion = String(o.apiVersion);
  const kind = String(o.kind);
  const meta = (o.metadata ?? {}) as { name?: string; namespace?: string };
  const r = RESOURCES[kind];
  if (!r) throw new Error(`e2e: no path for kind ${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = r.namespaced ? `/namespaces/${meta.namespace ?? 'default'}` : '';
  return `${base}${ns}/${r.plural}/${meta.name}`;
}

export const FIELD_MANAGER = 'ambientd-e2e';

/** Server-side apply (what `kubectl apply --server-side` sends). Returns the applied object. */
export async function apply(api: KubeApi, o: Obj, subresource = ''): Promise<Obj> {
  return api.json<Obj>('PATCH', objectPath(o) + subresource, {
    query: { fieldManager: FIELD_MANAGER, force: 'true' },
    body: JSON.stringify(o),
    contentType: 'application/apply-patch+yaml',
  });
}

export function docs(file: string): Obj[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => !!d && typeof d === 'object');
}

export async function applyFile(api: KubeApi, file: string): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const d of docs(file)) out.push(await apply(api, d));
  return out;
}

/** Deletes at once: with no kubelet, a graceful pod delete would leave it Terminating forever. */
export async function remove(api: KubeApi, o: Obj): Promise<void> {
  await api.json('DELETE', objectPath(o), { query: { gracePeriodSeconds: 0 } });
}

export async function waitCrdsEstablished(api: KubeApi, names: string[]): Promise<void> {
  for (const n of names) {
    await waitFor(
      async () => {
        const crd = await api.json<{ status?: { conditions?: { type: string; status: string }[] } }>(
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${n}`,
        );
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `CRD ${n} established` },
    );
  }
}

/** A token for a service account through the TokenRequest API (bound to a pod when given). */
export async function requestToken(
  api: KubeApi,
  namespace: string,
  sa: string,
  opts: { audiences: string[]; pod?: { name: string; uid: string }; expirationSeconds?: number },
): Promise<string> {
  const tr = await api.json<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: opts.audiences,
          expirationSeconds: opts.expirationSeconds ?? 3600,
          ...(opts.pod
            ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: opts.pod.name, uid: opts.pod.uid } }
            : {}),
        },
      },
    },
  );
  return tr.status.token;
}

export const ns = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});

export const node = (name: string, ip: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});

export const service = (namespace: string, name: string, app: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace, labels },
  spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
});

export const pod = (
  namespace: string,
  name: string,
  app: string,
  nodeName: string,
  labels: Record<string, string> = {},
) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels: { app, ...labels } },
  spec: {
    nodeName,
    serviceAccountName: 'default',
    containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }],
  },
});

/** Pods get an IP only from a kubelet; the tests play kubelet through the status subresource. */
export async function setPodRunning(api: KubeApi, p: Obj, ip: string): Promise<Obj> {
  return api.json<Obj>('PATCH', objectPath(p) + '/status', {
    body: {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: '192.0.2.1',
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
    contentType: 'application/merge-patch+json',
  });
}

export const endpointSlice = (namespace: string, name: string, service: string, ip: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints: [{ addresses: [ip], conditions: { ready: true } }],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

export const remoteGateway = (namespace: string, name: string, address: string) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: {
    name,
    namespace,
    labels: { 'topology.istio.io/network': 'net-b', 'topology.istio.io/cluster': 'cluster-b' },
    annotations: {
      'gateway.istio.io/service-account': 'istio-eastwest',
      'gateway.istio.io/trust-domain': 'cluster.local',
    },
  },
  spec: {
    gatewayClassName: 'istio-remote',
    addresses: [{ type: 'IPAddress', value: address }],
    listeners: [
      { name: 'cross-network', port: 15008, protocol: 'HBONE', tls: { mode: 'Passthrough' } },
      { name: 'xds-tls', port: 15012, protocol: 'TLS', tls: { mode: 'Passthrough' } },
    ],
  },
});

export const authorizationPolicy = (namespace: string, name: string, app: string) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec: {
    selector: { matchLabels: { app } },
    action: 'ALLOW',
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/b'] } }] }],
  },
});

export const peerAuthentication = (namespace: string, name: string) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name, namespace },
  spec: { mtls: { mode: 'STRICT' } },
});
