import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { testWire } from '../harness/xds-fixture';
import { ZtunnelClient, type ZtunnelClientOptions } from '../harness/ztunnel-client';
import { MAIN_JS, MINI_MESH, loopbackFlags, runAmbientd, spawnAmbientd, type AmbientdProcess } from './proc';

/**
 * A real daemon process for the issue #18 attack tests: a mesh with a DENY
 * policy and mesh-wide STRICT (so a withdrawal would fail open), admin ports
 * discovered from its log, and a connected ztunnel-like client.
 */
export const POLICY_MESH = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-blocklisted, namespace: default }
spec:
  action: DENY
  rules: [{ from: [{ source: { namespaces: [blocked] } }] }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
`;

export const pod = (name: string, ip: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, serviceAccountName: web, containers: [{ name: c }] }
status: { phase: Running, podIP: ${ip}, conditions: [{ type: Ready, status: "True" }] }
`;

export interface AttackDaemon {
  p: AmbientdProcess;
  dir: string;
  stateDir: string;
  registryDir: string;
  port: number;
  debugPort: number;
  metricsPort: number;
  args: string[];
  command: string[] | undefined;
}

export interface AttackDaemonOptions {
  /** Descriptor limit of the daemon process (soft = hard), set by the shell before exec. */
  nofile?: number;
  extraFlags?: string[];
  /** Extra registry files (name -> content), written before start. */
  files?: Record<string, string>;
  /** Reuse these dirs (a restart). */
  dirs?: { dir: string };
  serveTimeoutMs?: number;
  /** Run the daemon as this user (permission tests as root); its state dir is handed over to it. */
  user?: { uid: number; gid: number };
}

export async function startAttackDaemon(t: Test, o: AttackDaemonOptions = {}): Promise<AttackDaemon> {
  const dir = o.dirs?.dir ?? fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'ambientd-attack-'));
  if (!o.dirs) t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stateDir = path.join(dir, 'state');
  const registryDir = path.join(dir, 'registry');
  if (!o.dirs) {
    fs.mkdirSync(registryDir);
    fs.writeFileSync(path.join(registryDir, 'mesh.yaml'), MINI_MESH);
    fs.writeFileSync(path.join(registryDir, 'policy.yaml'), POLICY_MESH);
    for (const [f, c] of Object.entries(o.files ?? {})) {
      fs.mkdirSync(path.dirname(path.join(registryDir, f)), { recursive: true });
      fs.writeFileSync(path.join(registryDir, f), c);
    }
  }
  if (o.user) {
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.chownSync(stateDir, o.user.uid, o.user.gid);
  }
  const args = ['serve', ...loopbackFlags(stateDir, registryDir), ...(o.extraFlags ?? [])];
  // `ulimit -n N` sets the soft and the hard limit; exec keeps the pid (the daemon's).
  const command = o.nofile
    ? ['bash', '-c', `ulimit -n ${o.nofile} && exec "$@"`, 'ambientd', process.execPath, MAIN_JS]
    : undefined;
  const p = spawnAmbientd(args, { ...(command ? { command } : {}), ...(o.user ?? {}) });
  t.teardown(() => p.kill());
  const serving = await p.waitMsg('ambientd serving', o.serveTimeoutMs ?? 30_000);
  const admin = await p.waitMsg('admin servers listening', 15_000);
  const portOf = (hp: unknown): number => Number(String(hp).slice(String(hp).lastIndexOf(':') + 1));
  return {
    p,
    dir,
    stateDir,
    registryDir,
    args,
    command,
    port: serving.grpcPort as number,
    debugPort: portOf(admin.debug),
    metricsPort: portOf(admin.metrics),
  };
}

export async function mintToken(stateDir: string): Promise<string> {
  const r = await runAmbientd([
    'token',
    'create',
    '--state-dir',
    stateDir,
    '--namespace',
    'istio-system',
    '--service-account',
    'ztunnel',
  ]);
  if (r.exit.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A ztunnel-like client, connected and synced (it holds web-1 and both policies). */
export async function connectZtunnel(
  t: Test,
  d: AttackDaemon,
  extra: Partial<ZtunnelClientOptions> = {},
): Promise<ZtunnelClient> {
  const z = new ZtunnelClient({
    wire: testWire(),
    address: `127.0.0.1:${d.port}`,
    rootCaPem: fs.readFileSync(path.join(d.stateDir, 'ca/root-cert.pem'), 'utf8'),
    serverName: 'istiod.istio-system.svc',
    token: await mintToken(d.stateDir),
    clusterId: 'c1',
    podName: 'ztunnel-attack',
    ...extra,
  });
  t.teardown(() => z.close());
  z.connect();
  return z;
}

export async function untilSynced(z: ZtunnelClient): Promise<void> {
  await z.until(
    () => z.held(TYPE_ADDRESS).has('c1//Pod/default/web-1') && z.held(TYPE_AUTHORIZATION).size >= 2,
    'initial sync',
  );
}

/** Every resource name the client was ever told to remove (none is the pass condition). */
export function removals(z: ZtunnelClient): string[] {
  return z.received.flatMap((r) => r.removed.map((n) => `${r.typeUrl.split('.').pop()}:${n}`));
}

// The body is parsed JSON, or the text when it is not JSON (metrics): each test reads the form it asked for.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export function getJson(port: number, p: string, timeoutMs = 5000): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: timeoutMs, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (b += c));
      res.on('end', () => {
        let body: unknown = b;
        try {
          body = JSON.parse(b);
        } catch {
          // metrics are text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** VmRSS and VmHWM (peak) of a process, MiB (proc(5)). */
export function rssMiB(pid: number): { rss: number; peak: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** The value of one counter/gauge sample in a Prometheus text page (0 if absent). */
export function metricValue(page: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name) || (labels && !line.includes(labels))) continue;
    const m = /^\S+(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && (line[name.length] === '{' || line[name.length] === ' ')) sum += Number(m[1]);
  }
  return sum;
}
