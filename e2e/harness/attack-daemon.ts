import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadWire, TYPE_ADDRESS } from '../../pkg/wire';
import { waitFor } from '../../pkg/lifecycle';
import { MAIN_JS, cleanEnv, loopbackFlags, spawnAmbientd, type AmbientdProcess } from '../ship/proc';
import { ZtunnelClient, type ZtunnelClientOptions } from './ztunnel-client';

/**
 * A real ambientd process for attack tests (issue 18): its own registry and
 * state dir, admin on ephemeral loopback ports, and what the tests observe —
 * /ready, /metrics, its RSS (/proc), and the bytes it logged. Attackers and
 * legitimate clients live in the test process, so the daemon's event loop
 * and memory are its own.
 */
export interface AttackDaemon {
  proc: AmbientdProcess;
  pid: number;
  grpcPort: number;
  metricsPort: number;
  debugPort: number;
  rootCaPem: string;
  token: string;
  ready(): Promise<boolean>;
  metrics(): Promise<string>;
  /** A sample's value from /metrics (0 when absent); labels must match exactly as exposed. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** The sum of a metric's samples over all label sets (0 when absent). */
  metricSum(name: string): Promise<number>;
  /**
   * The daemon's longest event-loop stall (ms) since the previous call, over every scrape in between:
   * prom-client's nodejs_eventloop_lag_max_seconds is perf_hooks.monitorEventLoopDelay's max, reset on each
   * scrape, so each scrape's value is folded in here. Scrapes once itself.
   */
  loopStallMs(): Promise<number>;
  /** Resident set size, MiB. */
  rssMiB(): number;
  /** Bytes of log output so far (stdout JSON lines plus stderr). */
  logBytes(): number;
  ztunnel(o?: Partial<ZtunnelClientOptions>): ZtunnelClient;
  close(): Promise<void>;
}

/** Pods in one ambient namespace: what a ztunnel must keep holding throughout an attack. */
export function meshYaml(pods: number): string {
  const ns =
    'apiVersion: v1\nkind: Namespace\n' + 'metadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }';
  const docs = [ns];
  for (let i = 0; i < pods; i++) {
    docs.push(`apiVersion: v1
kind: Pod
metadata: { name: web-${i}, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, serviceAccountName: web, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.0.${i >> 8}.${i & 255}, conditions: [{ type: Ready, status: "True" }] }`);
  }
  docs.push(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-blocklisted, namespace: default }
spec: { action: DENY, rules: [{ from: [{ source: { namespaces: [blocked] } }] }] }`);
  return docs.join('\n---\n') + '\n';
}

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}

export async function startAttackDaemon(
  t: { teardown(fn: () => unknown): void },
  o: { flags?: string[]; pods?: number } = {},
): Promise<AttackDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-attack-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stateDir = path.join(dir, 'state');
  const registryDir = path.join(dir, 'registry');
  fs.mkdirSync(registryDir, { recursive: true });
  fs.writeFileSync(path.join(registryDir, 'mesh.yaml'), meshYaml(o.pods ?? 20));
  // The issuer key is created in the state dir by the first command; the daemon reuses it.
  const mint = [
    MAIN_JS,
    'token',
    'create',
    '--state-dir',
    stateDir,
    '--namespace',
    'istio-system',
    '--service-account',
    'ztunnel',
    '--ttl',
    '1h',
  ];
  const token = execFileSync(process.execPath, mint, { encoding: 'utf8', env: cleanEnv() }).trim();
  const args = ['serve', ...loopbackFlags(stateDir, registryDir), '--log-level=info', ...(o.flags ?? [])];
  const proc = spawnAmbientd(args);
  const clients: ZtunnelClient[] = [];
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const c of clients) c.close();
    proc.signal('SIGTERM');
    await proc.waitExit(20_000).catch(() => proc.kill());
  };
  t.teardown(close);
  const serving = await proc.waitMsg('ambientd serving', 60_000);
  const admin = await proc.waitMsg('admin servers listening', 10_000);
  const portOf = (hostPort: unknown): number => Number(String(hostPort).split(':').pop());
  const metricsPort = portOf(admin.metrics);
  const debugPort = portOf(admin.debug);
  const rootCaPem = fs.readFileSync(path.join(stateDir, 'ca', 'root-cert.pem'), 'utf8');
  const grpcPort = Number(serving.grpcPort);
  const pid = proc.child.pid!;
  const wire = loadWire();
  let stallMax = 0;
  const d: AttackDaemon = {
    proc,
    pid,
    grpcPort,
    metricsPort,
    debugPort,
    rootCaPem,
    token,
    ready: async () => (await get(debugPort, '/ready')).status === 200,
    async metrics() {
      const body = (await get(metricsPort, '/metrics')).body;
      const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(body);
      if (m) stallMax = Math.max(stallMax, Number(m[1]) * 1000);
      return body;
    },
    async loopStallMs() {
      await d.metrics();
      const v = stallMax;
      stallMax = 0;
      return v;
    },
    async metric(name, labels = {}) {
      const want = Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      const prefix = want ? `${name}{${want}} ` : `${name} `;
      const line = (await d.metrics()).split('\n').find((l) => l.startsWith(prefix));
      return line ? Number(line.slice(prefix.length)) : 0;
    },
    async metricSum(name) {
      return (await d.metrics())
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    },
    rssMiB() {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    },
    logBytes: () => proc.logs.reduce((a, l) => a + JSON.stringify(l).length + 1, 0) + proc.stderr().length,
    ztunnel(co = {}) {
      const c = new ZtunnelClient({
        wire,
        address: `127.0.0.1:${grpcPort}`,
        rootCaPem,
        serverName: 'istiod.istio-system.svc',
        token,
        clusterId: 'c1',
        ...co,
      });
      clients.push(c);
      return c;
    },
    close,
  };
  return d;
}

/**
 * A connected ztunnel holding the full state, and the check that it still
 * holds every resource it held (same names, stream not ended) after an attack.
 */
export async function legitimateZtunnel(
  d: AttackDaemon,
  pods: number,
): Promise<{ client: ZtunnelClient; intact: () => string | undefined }> {
  const client = d.ztunnel();
  client.connect();
  // Synced once every pod's workload is held (Address also carries services; those are not counted here).
  await waitFor(() => [...client.held(TYPE_ADDRESS).keys()].filter((k) => k.includes('/Pod/')).length >= pods, {
    timeoutMs: 30_000,
    what: `ztunnel holds ${pods} pods`,
  });
  const before = new Map([...client.state].map(([t, m]) => [t, new Set(m.keys())]));
  return {
    client,
    intact() {
      if (client.status) return `ztunnel stream ended: ${JSON.stringify(client.status)}`;
      for (const [t, names] of before) {
        const now = client.held(t);
        const lost = [...names].filter((n) => !now.has(n));
        if (lost.length) return `ztunnel lost ${lost.length} ${t} resources, e.g. ${lost.slice(0, 3).join(', ')}`;
      }
      return undefined;
    },
  };
}

/**
 * A DeltaDiscoveryRequest subscribing `count` names "n/<7 base-36 digits>" from `from` on (field 2 type_url,
 * field 3 names; encoded by hand for speed): 11 bytes a name, so 350,000 are 3.85 MB, under the 4 MiB receive limit.
 */
export function subscribeMany(from: number, count: number): Buffer {
  const type = Buffer.from(TYPE_ADDRESS);
  const out = Buffer.allocUnsafe(2 + type.length + count * 11);
  let off = 0;
  out[off++] = 0x12;
  out[off++] = type.length;
  off += type.copy(out, off);
  for (let i = from; i < from + count; i++) {
    out[off++] = 0x1a;
    out[off++] = 9;
    off += out.write(`n/${i.toString(36).padStart(7, '0')}`, off, 'latin1');
  }
  return out.subarray(0, off);
}
