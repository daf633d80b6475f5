// Scenario `kube`: initial list of many pods/services through a real
// kube-apiserver (+ etcd) into the registry store. The daemon side runs as its
// own child (kube-daemon.js); its RSS is read from /proc before and after the
// sync. Needs the binaries from tools/kube/ensure.sh (skips with a note otherwise).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { KubeApi } from '../../pkg/kube';
import { findBinaries, TestCluster } from '../../e2e/kube/harness';
import { sampleProc } from '../lib/proc';
import type { Figure, ScenarioResult } from '../lib/types';

const SIZES = {
  quick: { pods: 5_000, services: 200, namespaces: 20, nodes: 20 },
  full: { pods: 50_000, services: 1_000, namespaces: 50, nodes: 100 },
} as const;

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
    metadata: { name, namespace: ns, labels: { app, version: 'v1', 'pod-template-hash': 'abc123' }, annotations: { 'prometheus.io/scrape': 'true' } },
    spec: { nodeName: node, serviceAccountName: app, containers: [container('main', 8080), container('sidecar', 9090)], volumes: [{ name: 'config', configMap: { name: `${app}-config` } }] },
  };
}

async function populate(api: KubeApi, size: (typeof SIZES)[keyof typeof SIZES]): Promise<void> {
  const nsName = (i: number) => `ns-${i % size.namespaces}`;
  await pool(size.namespaces, 8, (i) => api.json('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}` } } }));
  await pool(size.nodes, 8, (i) =>
    api.json('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}`, labels: { 'topology.kubernetes.io/zone': `z${i % 3}` } } } }),
  );
  await pool(size.services, 16, (i) =>
    api.json('POST', `/api/v1/namespaces/${nsName(i)}/services`, {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}` }, spec: { selector: { app: `app-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    }),
  );
  await pool(size.pods, 32, async (i) => {
    const ns = nsName(i % size.services);
    const name = `pod-${i}`;
    await api.json('POST', `/api/v1/namespaces/${ns}/pods`, { body: podBody(ns, name, `app-${i % size.services}`, `node-${i % size.nodes}`) });
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    await api.json('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
      body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] } },
      contentType: 'application/merge-patch+json',
    });
  });
}

export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResult> {
  const size = SIZES[opts.mode];
  const bins = findBinaries();
  if (typeof bins === 'string') return { scenario: 'kube', params: { ...size }, figures: [], notes: [`skipped: ${bins}`] };
  const cluster = await TestCluster.start(bins);
  const notes: string[] = [];
  try {
    const admin = cluster.adminClient();
    const p0 = performance.now();
    await populate(admin, size);
    const populateS = (performance.now() - p0) / 1000;

    const cfgFile = cluster.file('bench-client.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ server: cluster.url, ca: cluster.file('ca.crt'), cert: cluster.file('admin.crt'), key: cluster.file('admin.key') }));
    const log = fs.openSync(path.join(opts.logDir, 'kube-daemon.log'), 'w');
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'kube-daemon.js'), cfgFile], { stdio: ['pipe', 'pipe', log] });
    fs.closeSync(log);
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const nextMsg = async () => {
      const r = await lines.next();
      if (r.done) throw new Error('kube-daemon exited early (see kube-daemon.log)');
      return JSON.parse(r.value) as Record<string, number | string>;
    };
    try {
      await nextMsg(); // ready
      const before = sampleProc(child.pid!);
      child.stdin!.write('go\n');
      const synced = await nextMsg();
      const after = sampleProc(child.pid!);
      const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      const pods = Number(synced.pods);
      const figures: Figure[] = [
        { name: 'initial_sync_ms', value: Number(synced.syncMs), unit: 'ms' },
        { name: 'daemon_rss_after_sync_mb', value: after.rssBytes / 2 ** 20, unit: 'MiB' },
        { name: 'daemon_rss_peak_mb', value: hwm ? Number(hwm[1]) / 1024 : NaN, unit: 'MiB' },
        { name: 'daemon_rss_growth_per_pod', value: (after.rssBytes - before.rssBytes) / Math.max(1, pods), unit: 'bytes' },
        { name: 'daemon_heap_used_after_gc_mb', value: Number(synced.heapUsed) / 2 ** 20, unit: 'MiB' },
        { name: 'daemon_sync_cpu_ms', value: after.cpuMs - before.cpuMs, unit: 'ms' },
        { name: 'pods_in_store', value: pods, unit: 'count' },
        { name: 'services_in_store', value: Number(synced.services), unit: 'count' },
        { name: 'populate_s', value: populateS, unit: 's' },
      ];
      if (Number(synced.rejected) > 0) notes.push(`${synced.rejected} objects rejected by the store`);
      notes.push('daemon = KubeClient + 5 reflectors (Namespace, Node, Service, EndpointSlice, Pod; page size 500) + LocalRegistry, in its own process; apiserver and etcd are separate processes on the same 2 cores');
      return { scenario: 'kube', params: { ...size, kubeApiserver: path.basename(bins.dir) }, figures, notes };
    } finally {
      child.stdin!.end();
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    }
  } finally {
    await cluster.stop();
  }
}
