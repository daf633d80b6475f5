// The kube scenario's cluster load (bench/scenarios/kube.ts): run sizes and the namespaces, nodes,
// services and pods written through the API server before the daemon lists them.
import type { KubeApi } from '../../pkg/kube';

export const SIZES = {
  quick: { pods: 5_000, services: 200, namespaces: 20, nodes: 20, steadyRatePerS: 100, steadySeconds: 20 },
  full: { pods: 50_000, services: 1_000, namespaces: 50, nodes: 100, steadyRatePerS: 100, steadySeconds: 30 },
} as const;
export type Size = (typeof SIZES)[keyof typeof SIZES];

/** Runs `fn` over 0..n-1 with `width` requests in flight. */
async function pool(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** A pod shaped like a real Deployment's: two containers, env, mounts, resources (the daemon keeps a fraction). */
function podBody(ns: string, name: string, app: string, node: string) {
  const container = (cname: string, port: number) => ({
    name: cname,
    image: `registry.local/${app}/${cname}:1.2.3`,
    ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
    env: Array.from({ length: 5 }, (_, i) => ({ name: `ENV_${i}`, value: `value-${i}-${app}` })),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    volumeMounts: [{ name: 'config', mountPath: '/etc/config' }],
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      labels: { app, version: 'v1', 'pod-template-hash': 'abc123' },
      annotations: { 'prometheus.io/scrape': 'true' },
    },
    spec: {
      nodeName: node,
      serviceAccountName: app,
      containers: [container('main', 8080), container('sidecar', 9090)],
      volumes: [{ name: 'config', configMap: { name: `${app}-config` } }],
    },
  };
}

/** Pod i's IP in generation g (0 = populate, 1 = the steady phase's change): distinct per pod and generation. */
export const podIp = (i: number, g: number): string => `10.${g * 100 + ((i >> 16) & 255)}.${(i >> 8) & 255}.${i & 255}`;
export const podNs = (size: Size, i: number): string => `ns-${(i % size.services) % size.namespaces}`;

export async function populate(api: KubeApi, size: Size): Promise<void> {
  const nsName = (i: number) => `ns-${i % size.namespaces}`;
  const nsOfPod = (i: number) => podNs(size, i);
  await pool(size.namespaces, 8, (i) =>
    api.json('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}` } },
    }),
  );
  await pool(size.nodes, 8, (i) =>
    api.json('POST', '/api/v1/nodes', {
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: `node-${i}`, labels: { 'topology.kubernetes.io/zone': `z${i % 3}` } },
      },
    }),
  );
  await pool(size.services, 16, (i) =>
    api.json('POST', `/api/v1/namespaces/${nsName(i)}/services`, {
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc-${i}` },
        spec: { selector: { app: `app-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    }),
  );
  // Two requests per pod (the API server drops status on create); 64 in flight keeps etcd's batches full
  // without a 429 storm.
  await pool(size.pods, 64, async (i) => {
    const ns = nsOfPod(i);
    const name = `pod-${i}`;
    await api.json('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: podBody(ns, name, `app-${i % size.services}`, `node-${i % size.nodes}`),
    });
    const ip = podIp(i, 0);
    await api.json('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
      body: {
        status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
      },
      contentType: 'application/merge-patch+json',
    });
  });
}
