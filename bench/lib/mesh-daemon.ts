/**
 * The mesh scenario's daemon side (bench/scenarios/mesh.ts): the run's PKI, the registry of remote
 * Gateways, and the daemon process (started, asked for memory reports over SIGUSR2, stopped).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { MAIN, prepareDaemonDir } from './daemon-proc';
import { NS, addressOf } from '../sim/mesh-sim';

/** mesh.ts run as `node mesh.js daemon <config>`: the stand-in runner (same Daemon, same config). */
const STAND_IN = path.join(__dirname, '..', 'scenarios', 'mesh.js');

export function makePki(dir: string): { daemonCa: string; simChain: string; simKey: string; root: string } {
  const certs = path.resolve(__dirname, '..', '..', '..', 'certs');
  // One shared root for the run; RSA 2048 is ample for a throwaway bench PKI.
  execFileSync(
    'make',
    ['-s', '-C', certs, `OUT=${dir}`, 'ROOTCA_KEYSZ=2048', 'INTERMEDIATE_KEYSZ=2048', 'daemon-cacerts', 'sim-cacerts'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const d = path.join(dir, 'sim');
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(d, 'leaf-key.pem')]);
  run(['req', '-new', '-key', path.join(d, 'leaf-key.pem'), '-subj', '/O=bench', '-out', path.join(d, 'leaf.csr')]);
  fs.writeFileSync(
    path.join(d, 'leaf.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
      'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=URI:spiffe://cluster.local/ns/istio-system/sa/istiod\n',
  );
  run([
    'x509',
    '-req',
    '-in',
    path.join(d, 'leaf.csr'),
    '-CA',
    path.join(d, 'ca-cert.pem'),
    '-CAkey',
    path.join(d, 'ca-key.pem'),
    '-set_serial',
    '7',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    path.join(d, 'leaf.ext'),
    '-out',
    path.join(d, 'leaf.pem'),
  ]);
  return {
    daemonCa: path.join(dir, 'daemon'),
    simChain: fs.readFileSync(path.join(d, 'leaf.pem'), 'utf8') + fs.readFileSync(path.join(d, 'ca-cert.pem'), 'utf8'),
    simKey: fs.readFileSync(path.join(d, 'leaf-key.pem'), 'utf8'),
    root: path.join(dir, 'root-cert.pem'),
  };
}

/**
 * The registry: namespaces and one istio-remote Gateway per virtual peer, in files of 2,000 Gateways
 * (the file source rejects a file of more than 250,000 YAML nodes; a Gateway here is ~30).
 */
export function remoteGateways(n: number, port: number): string[] {
  const files: string[] = [];
  const out: string[] = [
    'apiVersion: v1\nkind: Namespace\n' +
      'metadata: { name: istio-system, labels: { topology.istio.io/network: net-local } }\n',
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS}, labels: { istio.io/dataplane-mode: ambient } }\n`,
  ];
  for (let i = 0; i < n; i++) {
    out.push(
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: istio-remote-peer-sim-${i}, namespace: istio-gateways, ` +
        `labels: { topology.istio.io/network: sim-net-${i}, topology.istio.io/cluster: sim-${i} }, ` +
        `annotations: { gateway.istio.io/service-account: istio-eastwest } }
spec:
  gatewayClassName: istio-remote
  addresses: [{ type: IPAddress, value: ${addressOf(i)} }]
  listeners: [{ name: cross-network, port: 15008, protocol: HBONE }, { name: xds-tls, port: ${port}, protocol: TLS }]
`,
    );
    if (out.length >= 2000) files.push(out.splice(0).join('---\n'));
  }
  if (out.length) files.push(out.join('---\n'));
  return files;
}

/** The daemon binary if it wires peering, else mesh.ts's stand-in runner (same Daemon, same config). */
function daemonCommand(cfgFile: string): string[] {
  const main = fs.readFileSync(MAIN, 'utf8');
  if (!process.env['MESH_STANDIN'] && /createPeering|peering:\s*create/.test(main))
    return [MAIN, 'serve', '--config', cfgFile, '--log-level', 'info'];
  return [STAND_IN, 'daemon', cfgFile];
}

export interface MemoryReport {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  before?: MemoryReport;
}

export async function startDaemon(
  dir: string,
  logDir: string,
  config: Record<string, unknown>,
): Promise<{
  pid: number;
  port: number;
  token: string;
  stop: () => Promise<void>;
  cmd: string;
  memory: () => Promise<MemoryReport>;
}> {
  const { cfgFile, token } = prepareDaemonDir(dir, config);
  const cmd = daemonCommand(cfgFile);
  const log = fs.createWriteStream(path.join(logDir, 'mesh-daemon.log'));
  // Node flags as the product ships them (deploy/: none), so RSS is what a deployment sees; a
  // bench-only --max-old-space-size was dropped. --expose-gc only enables the SIGUSR2 report below
  // (memory after a full GC: what is retained, not garbage); the bench calls gc() nowhere else. The
  // daemon's own memory policy (runtime.heapGrowthPercent, runtime.gcAfterBurst) runs at its defaults,
  // as shipped.
  // MESH_NODE_ARGS adds diagnostics flags, e.g. --heapsnapshot-signal=SIGUSR1.
  const extra = (process.env['MESH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const proc = spawn(
    'node',
    [
      '--expose-gc',
      ...extra,
      ...(process.env['MESH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/meshprof'] : []),
      ...cmd,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const memWaiters: ((m: MemoryReport) => void)[] = [];
  proc.stderr.pipe(log);
  const rl = readline.createInterface({ input: proc.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start')), 180_000);
    rl.on('line', (line) => {
      log.write(line + '\n');
      try {
        const j = JSON.parse(line) as { msg?: string; grpcPort?: number; memory?: MemoryReport; before?: MemoryReport };
        if (j.msg === 'memory usage' && j.memory)
          memWaiters.splice(0).forEach((w) => w({ ...j.memory!, before: j.before }));
        if (j.msg === 'ambientd serving') {
          clearTimeout(timer);
          resolve(j.grpcPort ?? 0);
        }
      } catch {
        /* not JSON */
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}`));
    });
  });
  return {
    pid: proc.pid!,
    port,
    token,
    cmd: cmd[0] === MAIN ? 'main.js serve' : 'bench stand-in runner (main.js does not wire peering yet)',
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return void resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
    memory: () =>
      new Promise<MemoryReport>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('daemon did not report memory')), 60_000);
        memWaiters.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
        proc.kill('SIGUSR2');
      }),
  };
}
