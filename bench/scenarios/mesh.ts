import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import type { Figure, ScenarioResult, Series } from '../lib/types';
import { BENCH_CONNECTIONS_PER_SOURCE, MAIN } from '../lib/daemon-proc';
import { SimProc, wallNow } from '../lib/sim-proc';
import { linkFloor } from '../lib/link-floor';
import { cpuPercent, percentile, sampleProc, type ProcSample } from '../lib/proc';
import * as http2 from 'node:http2';
import { TLS13_CIPHERS } from '../../pkg/transport';
import { encodeRequest, grpcFrame, parseResponse, type LiteResponse } from '../lib/pb';
import { loadWire, type Wire } from '../../pkg/wire';
import { contentVersion } from '../../pkg/wire';
import { ADS_DELTA_PATH } from '../../pkg/xds';
import { PEERING_PROTO, TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE, capacityBucket, peeringTypes, createPeering } from '../../pkg/peering';
import { loadConfig } from '../../pkg/config';
import { createRootLogger } from '../../pkg/log';
import { Daemon } from '../../pkg/daemon';

/**
 * Multicluster peering at scale (issue 4, "Numbers"). A simulator process
 * serves N virtual peer control planes on distinct loopback addresses
 * (127.1.x.y, one gRPC server bound to all of them, the virtual cluster picked
 * from the peering client's node id), each exporting 100 global services, with
 * one pod replaced per second per virtual cluster (inside a capacity bucket, so
 * nothing is sent — the point of bucketing) plus a few bucket crossings per
 * second that must propagate. Simulated ztunnels (in the simulator process, so
 * one clock measures propagation) hold streams to the daemon, which runs alone
 * in its own process: `node dist/cmd/ambientd/main.js serve --config <file>`.
 */
const SERVICES = 100;
const NS = 'bench';
const BASE_PODS = 40; // bucket 32; a crossing flips to 70 (bucket 64) and back

function addressOf(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function splitName(i: number, j: number): string {
  return `sim-net-${i}/SplitHorizonWorkload/istio-gateways/istio-remote-peer-sim-${i}/${NS}/svc-${j}.${NS}.mesh.internal`;
}

function makePki(dir: string): { daemonCa: string; simChain: string; simKey: string; root: string } {
  const certs = path.resolve(__dirname, '..', '..', '..', 'certs');
  // One shared root for the run; RSA 2048 is ample for a throwaway bench PKI.
  execFileSync('make', ['-s', '-C', certs, `OUT=${dir}`, 'ROOTCA_KEYSZ=2048', 'INTERMEDIATE_KEYSZ=2048', 'daemon-cacerts', 'sim-cacerts'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const d = path.join(dir, 'sim');
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(d, 'leaf-key.pem')]);
  run(['req', '-new', '-key', path.join(d, 'leaf-key.pem'), '-subj', '/O=bench', '-out', path.join(d, 'leaf.csr')]);
  fs.writeFileSync(path.join(d, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=URI:spiffe://cluster.local/ns/istio-system/sa/istiod\n');
  run(['x509', '-req', '-in', path.join(d, 'leaf.csr'), '-CA', path.join(d, 'ca-cert.pem'), '-CAkey', path.join(d, 'ca-key.pem'), '-set_serial', '7', '-days', '2', '-sha256', '-extfile', path.join(d, 'leaf.ext'), '-out', path.join(d, 'leaf.pem')]);
  return {
    daemonCa: path.join(dir, 'daemon'),
    simChain: fs.readFileSync(path.join(d, 'leaf.pem'), 'utf8') + fs.readFileSync(path.join(d, 'ca-cert.pem'), 'utf8'),
    simKey: fs.readFileSync(path.join(d, 'leaf-key.pem'), 'utf8'),
    root: path.join(dir, 'root-cert.pem'),
  };
}

function remoteGateways(n: number, port: number): string {
  const out: string[] = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: istio-system, labels: { topology.istio.io/network: net-local } }\n',
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS}, labels: { istio.io/dataplane-mode: ambient } }\n`,
  ];
  for (let i = 0; i < n; i++) {
    out.push(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: istio-remote-peer-sim-${i}, namespace: istio-gateways, labels: { topology.istio.io/network: sim-net-${i}, topology.istio.io/cluster: sim-${i} }, annotations: { gateway.istio.io/service-account: istio-eastwest } }
spec:
  gatewayClassName: istio-remote
  addresses: [{ type: IPAddress, value: ${addressOf(i)} }]
  listeners: [{ name: cross-network, port: 15008, protocol: HBONE }, { name: xds-tls, port: ${port}, protocol: TLS }]
`);
  }
  return out.join('---\n');
}

/** The daemon binary if it wires peering, else this file's stand-in runner (same Daemon, same config). */
function daemonCommand(cfgFile: string): string[] {
  const main = fs.readFileSync(MAIN, 'utf8');
  if (!process.env['MESH_STANDIN'] && /createPeering|peering:\s*create/.test(main)) return [MAIN, 'serve', '--config', cfgFile, '--log-level', 'info'];
  return [__filename, 'daemon', cfgFile];
}

interface MemoryReport { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; before?: MemoryReport }

async function startDaemon(dir: string, logDir: string, config: Record<string, unknown>): Promise<{ pid: number; port: number; token: string; stop: () => Promise<void>; cmd: string; memory: () => Promise<MemoryReport> }> {
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir, { recursive: true });
  const cfgFile = path.join(dir, 'ambientd.yaml');
  fs.writeFileSync(cfgFile, JSON.stringify({ stateDir, ...config }, null, 2));
  const token = execFileSync('node', [MAIN, 'token', 'create', '--state-dir', stateDir, '--namespace', 'istio-system', '--service-account', 'ztunnel', '--ttl', '24h'], { encoding: 'utf8' }).trim();
  const cmd = daemonCommand(cfgFile);
  const log = fs.createWriteStream(path.join(logDir, 'mesh-daemon.log'));
  // Node flags as the product ships them (deploy/: none), so RSS is what a deployment sees; a
  // bench-only --max-old-space-size was dropped. --expose-gc only enables the SIGUSR2 report below
  // (memory after a full GC: what is retained, not garbage); the bench calls gc() nowhere else. The
  // daemon's own memory policy (runtime.heapGrowthPercent, runtime.gcAfterBurst) runs at its defaults,
  // as shipped.
  // MESH_NODE_ARGS adds diagnostics flags, e.g. --heapsnapshot-signal=SIGUSR1.
  const extra = (process.env['MESH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const proc = spawn('node', ['--expose-gc', ...extra, ...(process.env['MESH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/meshprof'] : []), ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  const memWaiters: ((m: MemoryReport) => void)[] = [];
  proc.stderr!.pipe(log);
  const rl = readline.createInterface({ input: proc.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start')), 180_000);
    rl.on('line', (line) => {
      log.write(line + '\n');
      try {
        const j = JSON.parse(line) as { msg?: string; grpcPort?: number; memory?: MemoryReport; before?: MemoryReport };
        if (j.msg === 'memory usage' && j.memory) memWaiters.splice(0).forEach((w) => w({ ...j.memory!, before: j.before }));
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
    pid: proc.pid!, port, token, cmd: cmd[0] === MAIN ? 'main.js serve' : 'bench stand-in runner (main.js does not wire peering yet)',
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
    memory: () => new Promise<MemoryReport>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('daemon did not report memory')), 60_000);
      memWaiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
      proc.kill('SIGUSR2');
    }),
  };
}

/**
 * The headline run at N (200 quick, 2,000 full), preceded by shorter runs at
 * smaller N that only contribute CPU/RSS-versus-peers points to the chart.
 */
export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResult> {
  const full = opts.mode === 'full';
  // MESH_N=<n>: one point only (diagnosis without the whole sweep).
  const only = Number(process.env['MESH_N'] ?? 0);
  if (only > 0) return withLinkFloor(await runAt(opts, only, Number(process.env['MESH_WINDOW_MS'] ?? 15_000)));
  const sweep = full ? [200, 500, 1000] : [50, 100];
  const points: { n: number; cpu: number; rss: number }[] = [];
  for (const n of sweep) {
    const r = (await runAt(opts, n, 8_000)) as ScenarioResult & { series?: Series[] };
    const get = (k: string): number => r.figures.find((f) => f.name === k)?.value ?? NaN;
    points.push({ n, cpu: get('steady_cpu'), rss: get('rss') });
  }
  const main = (await runAt(opts, full ? 2000 : 200, full ? 30_000 : 15_000)) as ScenarioResult & { series?: Series[] };
  const get = (k: string): number => main.figures.find((f) => f.name === k)?.value ?? NaN;
  points.push({ n: full ? 2000 : 200, cpu: get('steady_cpu'), rss: get('rss') });
  main.series = [
    ...(main.series ?? []).filter((x) => x.chart === 'latency-cdf'),
    { chart: 'scale-cpu', label: 'steady CPU', values: points.map((p) => [p.n, p.cpu] as [number, number]) },
    { chart: 'scale-rss', label: 'RSS', values: points.map((p) => [p.n, p.rss] as [number, number]) },
  ];
  main.notes = [...(main.notes ?? []), `scale points (peers: steady CPU %, RSS MiB): ${points.map((p) => `${p.n}: ${p.cpu.toFixed(2)} %, ${p.rss.toFixed(0)} MiB`).join('; ')}`];
  return withLinkFloor(main);
}

/**
 * Adds the memory floor of the peer links alone (bench/sim/link-floor.ts): N bare mTLS HTTP/2
 * links that each received one first sync's bytes, in a process that holds nothing else.
 */
async function withLinkFloor(r: ScenarioResult): Promise<ScenarioResult> {
  const p = r.params as { peers: number; firstSyncBytes: number };
  const lf = await linkFloor({ links: p.peers, responseBytes: p.firstSyncBytes });
  r.figures.push({ name: 'link_floor_rss', value: lf.totalMiB, unit: 'MiB' });
  r.figures.push({ name: 'link_floor_per_link', value: lf.perLinkKiB, unit: 'KiB' });
  r.figures.push({ name: 'link_floor_heap_per_link', value: lf.heapPerLinkKiB, unit: 'KiB' });
  r.figures.push({ name: 'link_floor_process_base', value: lf.baseMiB, unit: 'MiB' });
  r.notes = [...(r.notes ?? []), `link floor: ${p.peers} bare mTLS HTTP/2 links, each after a ${p.firstSyncBytes}-byte first sync, cost ${lf.totalMiB.toFixed(0)} MiB of RSS (${lf.perLinkKiB.toFixed(1)} KiB per link, ${lf.heapPerLinkKiB.toFixed(1)} KiB of it JS heap) in a process that holds nothing else (no ambientd code)`];
  return r;
}

async function runAt(opts: { mode: 'quick' | 'full'; logDir: string }, n: number, windowMs: number): Promise<ScenarioResult> {
  const full = opts.mode === 'full';
  const ztunnels = full ? 8 : 4;
  const crossingsPerSec = 2;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-bench-mesh-'));
  fs.mkdirSync(opts.logDir, { recursive: true });
  const pki = makePki(path.join(dir, 'pki'));
  // Virtual peers and simulated ztunnels in two processes, so neither starves the other.
  const sim = new SimProc(__filename, ['--max-old-space-size=4096']);
  const zsim = new SimProc(__filename, ['--max-old-space-size=4096']);
  const figures: Figure[] = [];
  const notes: string[] = [];
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    await sim.next('ready');
    await zsim.next('ready');
    sim.send({ cmd: 'serve', n, chain: pki.simChain, key: pki.simKey });
    const serving = await sim.next('serving', 300_000);
    const simPort = Number(serving.port);
    const reg = path.join(dir, 'registry');
    fs.mkdirSync(reg, { recursive: true });
    fs.writeFileSync(path.join(reg, 'peers.yaml'), remoteGateways(n, simPort));
    const t0 = Date.now();
    daemon = await startDaemon(dir, opts.logDir, {
      clusterId: 'bench-local', network: 'net-local', registry: { type: 'file', dir: reg },
      xds: { listen: '127.0.0.1:0', maxConnectionsPerSource: BENCH_CONNECTIONS_PER_SOURCE }, admin: { metricsListen: '127.0.0.1:0', debugListen: '127.0.0.1:0' },
      ca: { dir: pki.daemonCa }, log: { level: 'warn' },
    });
    notes.push(`daemon: ${daemon.cmd}`);
    const samples: ProcSample[] = [sampleProc(daemon.pid)];
    const sampler = setInterval(() => samples.push(sampleProc(daemon!.pid)), 1000);
    zsim.send({ cmd: 'ztunnels', k: ztunnels, address: `127.0.0.1:${daemon.port}`, rootCaPem: fs.readFileSync(pki.root, 'utf8'), token: daemon.token, expect: n * SERVICES });
    const synced = await zsim.next('synced', full ? 900_000 : 300_000);
    figures.push({ name: 'first_full_sync', value: (Number(synced.at) - t0) / 1000, unit: 's' });
    notes.push(`first full sync: ${n} peers x ${SERVICES} services = ${n * SERVICES} split-horizon workloads at each of ${ztunnels} ztunnels (from daemon start)`);
    // Let start-up work (persistence, GC) settle before the steady window; a measurement window, not synchronisation.
    await new Promise((r) => setTimeout(r, 5000));
    // Steady state: pod churn only (inside capacity buckets, so nothing crosses the wire).
    sim.send({ cmd: 'churn' });
    await new Promise((r) => setTimeout(r, 2000));
    const a = sampleProc(daemon.pid);
    await new Promise((r) => setTimeout(r, windowMs));
    const b = sampleProc(daemon.pid);
    // Propagation: bucket crossings that must reach every ztunnel, on top of the churn.
    sim.send({ cmd: 'crossings', crossingsPerSec });
    const c = sampleProc(daemon.pid);
    await new Promise((r) => setTimeout(r, windowMs));
    const d = sampleProc(daemon.pid);
    // Retained memory after a full GC, split the way V8 reports it (JS heap vs buffers vs the rest).
    const mem = await daemon.memory().catch(() => undefined);
    sim.send({ cmd: 'report' });
    const rep = await sim.next('report');
    zsim.send({ cmd: 'report' });
    const zrep = await zsim.next('report');
    clearInterval(sampler);
    // Per (change, ztunnel): first receipt of the changed split-horizon workload after the change was sent.
    const lat: number[] = [];
    const changes = rep.changes as [string, number][];
    for (const recv of zrep.received as [string, number][][]) {
      const byName = new Map<string, number[]>();
      for (const [n, at] of recv) (byName.get(n) ?? byName.set(n, []).get(n)!).push(at);
      for (const [n, t0] of changes) {
        const t1 = (byName.get(n) ?? []).find((x) => x >= t0);
        if (t1 !== undefined) lat.push(t1 - t0);
      }
    }
    figures.push({ name: 'steady_cpu', value: cpuPercent(a, b), unit: '% of one core', target: { op: '<=', value: 10 } });
    figures.push({ name: 'rss', value: b.rssBytes / 2 ** 20, unit: 'MiB', target: { op: '<=', value: 512 } });
    // The same process 15 s later (end of the crossings window): after a burst V8 shrinks its heap
    // some time after the last major GC, so one sample shows where in that curve the daemon was.
    figures.push({ name: 'rss_end', value: d.rssBytes / 2 ** 20, unit: 'MiB' });
    if (mem) {
      const mib = (x: number): number => x / 2 ** 20;
      figures.push({ name: 'gc_rss', value: mib(mem.rss), unit: 'MiB' });
      figures.push({ name: 'gc_heap_used', value: mib(mem.heapUsed), unit: 'MiB' });
      figures.push({ name: 'gc_heap_total', value: mib(mem.heapTotal), unit: 'MiB' });
      figures.push({ name: 'gc_external', value: mib(mem.external), unit: 'MiB' });
      figures.push({ name: 'gc_array_buffers', value: mib(mem.arrayBuffers), unit: 'MiB' });
      // The same process just before that GC: how much of the RSS was garbage V8 had not collected yet.
      if (mem.before) {
        figures.push({ name: 'pre_gc_rss', value: mib(mem.before.rss), unit: 'MiB' });
        figures.push({ name: 'pre_gc_heap_total', value: mib(mem.before.heapTotal), unit: 'MiB' });
        figures.push({ name: 'pre_gc_external', value: mib(mem.before.external), unit: 'MiB' });
      }
    }
    figures.push({ name: 'peak_rss', value: Math.max(...samples.map((s) => s.rssBytes), b.rssBytes) / 2 ** 20, unit: 'MiB' });
    figures.push({ name: 'cpu_during_crossings', value: cpuPercent(c, d), unit: '% of one core' });
    figures.push({ name: 'propagation_p50', value: percentile(lat, 50), unit: 'ms' });
    figures.push({ name: 'propagation_p99', value: percentile(lat, 99), unit: 'ms', target: { op: '<=', value: 100 } });
    figures.push({ name: 'propagation_samples', value: lat.length, unit: 'changes' });
    figures.push({ name: 'churn_pod_replacements', value: Number(rep.replacements), unit: 'pods' });
    figures.push({ name: 'churn_updates_sent', value: Number(rep.churnSends), unit: 'resources' });
    notes.push(`steady window ${windowMs / 1000}s: ${n} pod replacements/s (inside capacity buckets: nothing sent); then ${windowMs / 1000}s with ${crossingsPerSec} bucket crossings/s on top (propagation, cpu_during_crossings)`);
    notes.push('propagation = simulator change (FederatedService sent) -> each simulated ztunnel first receives the split-horizon workload; peers and ztunnels in two simulator processes, matched on wall-clock time');
    if (!full) notes.push('quick mode runs N = 200; the targets are stated for N = 2,000 (make bench-full)');
    const series: Series[] = [
      { chart: 'latency-cdf', label: `mesh: ${n} peers -> ${ztunnels} ztunnels`, values: lat },
      { chart: 'scale-cpu', label: 'steady CPU', values: [[n, cpuPercent(a, b)]] },
      { chart: 'scale-rss', label: 'RSS', values: [[n, b.rssBytes / 2 ** 20]] },
    ];
    return { scenario: 'mesh', params: { peers: n, servicesPerPeer: SERVICES, ztunnels, crossingsPerSec, windowMs, mode: opts.mode, firstSyncBytes: Number(serving.firstSyncBytes) }, figures, notes, series } as ScenarioResult;
  } finally {
    sim.close();
    zsim.close();
    await daemon?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- simulator

/**
 * A ztunnel-shaped delta client (Address + Authorization wildcard, ACK every
 * response) that reassembles gRPC messages linearly: full syncs here are
 * several MB per response, and re-concatenating on every chunk is quadratic.
 */
class MeshZtunnel {
  private readonly session: http2.ClientHttp2Session;
  private stream?: http2.ClientHttp2Stream;
  private chunks: Buffer[] = [];
  private have = 0;

  constructor(private readonly o: { address: string; rootCaPem: string; token: string; id: number; onResponse: (r: LiteResponse) => void }) {
    this.session = http2.connect(`https://${o.address}`, { ca: o.rootCaPem, servername: 'istiod.istio-system.svc', minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS, maxSessionMemory: 1024 });
    this.session.on('error', () => undefined);
  }

  start(): void {
    const st = this.session.request({ ':method': 'POST', ':path': ADS_DELTA_PATH, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${this.o.token}`, clusterid: 'Kubernetes' });
    this.stream = st;
    st.on('error', () => undefined);
    st.on('data', (c: Buffer) => this.onData(c));
    for (const t of ['type.googleapis.com/istio.workload.Address', 'type.googleapis.com/istio.security.Authorization']) {
      st.write(grpcFrame(encodeRequest({ typeUrl: t, nodeId: `ztunnel~10.0.0.${this.o.id + 1}~zt-${this.o.id}.istio-system~istio-system.svc.cluster.local`, namespace: 'istio-system' })));
    }
  }

  private onData(c: Buffer): void {
    this.chunks.push(c);
    this.have += c.length;
    for (;;) {
      if (this.have < 5) return;
      if (this.chunks[0]!.length < 5) this.chunks = [Buffer.concat(this.chunks)];
      const len = this.chunks[0]!.readUInt32BE(1);
      if (this.have < 5 + len) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
      const r = parseResponse(Buffer.from(all.subarray(5, 5 + len)), true);
      const rest = all.subarray(5 + len);
      this.chunks = rest.length ? [rest] : [];
      this.have = rest.length;
      this.stream?.write(grpcFrame(encodeRequest({ typeUrl: r.typeUrl, nonce: r.nonce })));
      this.o.onResponse(r);
    }
  }

  close(): void {
    this.stream?.close();
    this.session.close();
  }
}

interface VCluster {
  i: number;
  pods: number[];
  fs: { name: string; version: string; bytes: Uint8Array }[];
  ci: { name: string; version: string; bytes: Uint8Array };
  streams: Set<grpc.ServerDuplexStream<Buffer, Buffer>>;
}

function simMain(): void {
  const wire: Wire = loadWire({ extraFiles: [PEERING_PROTO] });
  const types = peeringTypes(wire);
  const FS = types.get(TYPE_FEDERATED_SERVICE)!;
  const CI = types.get(TYPE_CLUSTER_INFO)!;
  const clusters: VCluster[] = [];
  let server: grpc.Server | undefined;
  const zts: MeshZtunnel[] = [];
  const changes: [string, number][] = [];
  const received: [string, number][][] = [];
  let replacements = 0;
  let churnSends = 0;
  let nonce = 0;
  const timers: NodeJS.Timeout[] = [];

  const encodeFs = (j: number, pods: number): { name: string; version: string; bytes: Uint8Array } => {
    const bytes = FS.encode(FS.fromObject({
      name: `svc-${j}`, namespace: NS, hostname: `svc-${j}.${NS}.mesh.internal`, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', name: 'http', appProtocol: 'http' }],
      subjectAltNames: [`spiffe://cluster.local/ns/${NS}/sa/svc-${j}`], capacity: capacityBucket(pods), scope: 'global', originTimeUnixMs: Date.now(),
    })).finish();
    return { name: `${NS}/svc-${j}`, version: contentVersion(bytes), bytes };
  };
  const encodeResponse = (typeUrl: string, res: { name: string; version: string; bytes: Uint8Array }[], removed: string[] = []): Uint8Array =>
    wire.DeltaDiscoveryResponse.encode(wire.DeltaDiscoveryResponse.fromObject({
      typeUrl, nonce: String(++nonce), systemVersionInfo: '', removedResources: removed,
      resources: res.map((r) => ({ name: r.name, version: r.version, resource: { typeUrl, value: r.bytes } })),
    })).finish();
  const respond = (call: grpc.ServerDuplexStream<Buffer, Buffer>, typeUrl: string, res: { name: string; version: string; bytes: Uint8Array }[], removed: string[] = []): void => {
    call.write(Buffer.from(encodeResponse(typeUrl, res, removed)));
  };

  const handle = (call: grpc.ServerDuplexStream<Buffer, Buffer>): void => {
    let vc: VCluster | undefined;
    call.on('data', (b: Buffer) => {
      const req = wire.DeltaDiscoveryRequest.decode(b) as unknown as { typeUrl: string; responseNonce: string; node?: { id: string }; initialResourceVersions: Record<string, string> };
      if (req.node?.id && !vc) {
        const m = /peering-sim-(\d+)\./.exec(req.node.id);
        vc = m ? clusters[Number(m[1])] : undefined;
        if (!vc) return call.end();
        vc.streams.add(call);
      }
      if (!vc || req.responseNonce) return; // ACK/NACK
      const irv = req.initialResourceVersions ?? {};
      if (req.typeUrl === TYPE_CLUSTER_INFO) respond(call, req.typeUrl, irv[vc.ci.name] === vc.ci.version ? [] : [vc.ci]);
      else if (req.typeUrl === TYPE_FEDERATED_SERVICE) respond(call, req.typeUrl, vc.fs.filter((r) => irv[r.name] !== r.version));
      else respond(call, req.typeUrl, []);
    });
    const gone = (): void => void vc?.streams.delete(call);
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('close', gone);
  };

  process.on('message', (m: Record<string, unknown>) => {
    void (async () => {
      if (m.cmd === 'serve') {
        const n = Number(m.n);
        for (let i = 0; i < n; i++) {
          const pods = Array.from({ length: SERVICES }, () => BASE_PODS);
          const ciBytes = CI.encode(CI.fromObject({ clusterId: `sim-${i}`, network: `sim-net-${i}`, trustDomain: 'cluster.local', softwareVersion: 'sim' })).finish();
          clusters.push({ i, pods, fs: pods.map((p, j) => encodeFs(j, p)), ci: { name: 'cluster', version: contentVersion(ciBytes), bytes: ciBytes }, streams: new Set() });
        }
        const raw = (b: Buffer): Buffer => b;
        server = new grpc.Server({ 'grpc.max_concurrent_streams': 100_000, 'grpc.keepalive_permit_without_calls': 1 });
        server.addService({ DeltaAggregatedResources: { path: ADS_DELTA_PATH, requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } } as grpc.ServiceDefinition, { DeltaAggregatedResources: handle } as never);
        const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(String(m.chain)), private_key: Buffer.from(String(m.key)) }], false);
        const bind = (addr: string): Promise<number> => new Promise((res, rej) => server!.bindAsync(addr, creds, (e, p) => (e ? rej(e) : res(p))));
        const port = await bind(`${addressOf(0)}:0`);
        for (let i = 1; i < n; i++) await bind(`${addressOf(i)}:${port}`);
        // What one virtual peer sends on a first sync (the link floor receives as much per link).
        const firstSyncBytes = encodeResponse(TYPE_FEDERATED_SERVICE, clusters[0]!.fs).length + encodeResponse(TYPE_CLUSTER_INFO, [clusters[0]!.ci]).length;
        process.send!({ ev: 'serving', port, firstSyncBytes });
      } else if (m.cmd === 'ztunnels') {
        const expect = Number(m.expect);
        const seen: Set<string>[] = [];
        let done = 0;
        for (let k = 0; k < Number(m.k); k++) {
          const held = new Set<string>();
          seen.push(held);
          const recv: [string, number][] = [];
          received.push(recv);
          let full = false;
          const z = new MeshZtunnel({
            address: String(m.address), rootCaPem: String(m.rootCaPem), token: String(m.token), id: k,
            onResponse: (r) => {
              const at = wallNow();
              if (full && recv.length < 100_000) for (const name of r.names) recv.push([name, at]);
              if (!full) for (const name of r.names) if (name.includes('/SplitHorizonWorkload/')) held.add(name);
              if (!full && held.size >= expect) {
                full = true;
                if (++done === Number(m.k)) process.send!({ ev: 'synced', at: Date.now() });
              }
            },
          });
          z.start();
          zts.push(z);
          if (process.env['MESH_DEBUG']) { const tt = setInterval(() => { console.error(`zt${k} ${Date.now()} held=${held.size}`); if (full) clearInterval(tt); }, 2000); }
        }
      } else if (m.cmd === 'churn') {
        // One pod replaced per second per virtual cluster: count -1 then +1, bucket unchanged, nothing to send.
        timers.push(setInterval(() => {
          for (const c of clusters) {
            const j = replacements % SERVICES;
            const before = capacityBucket(c.pods[j]!);
            c.pods[j]!--;
            c.pods[j]!++;
            replacements++;
            if (capacityBucket(c.pods[j]!) !== before) churnSends++;
          }
        }, 1000));
      } else if (m.cmd === 'crossings') {
        // Bucket crossings (32 <-> 64) that must propagate to every ztunnel.
        const period = 1000 / Number(m.crossingsPerSec);
        let x = 0;
        timers.push(setInterval(() => {
          const c = clusters[(x * 7919) % clusters.length]!;
          const j = x % SERVICES;
          x++;
          c.pods[j] = c.pods[j] === BASE_PODS ? 70 : BASE_PODS;
          const r = encodeFs(j, c.pods[j]!);
          c.fs[j] = r;
          changes.push([splitName(c.i, j), wallNow()]);
          for (const s of c.streams) respond(s, TYPE_FEDERATED_SERVICE, [r]);
        }, period));
      } else if (m.cmd === 'report') {
        process.send!({ ev: 'report', changes, received, replacements, churnSends });
      } else if (m.cmd === 'close') {
        for (const t of timers) clearInterval(t);
        for (const z of zts) z.close();
        server?.forceShutdown();
        process.exit(0);
      }
    })().catch((e: Error) => {
      console.error(`mesh simulator: ${e.stack ?? e.message}`);
      process.exit(1);
    });
  });
  process.send!({ ev: 'ready' });
}

/** Stand-in for `main.js serve` until cmd/ wires the peering layer (same Daemon, same config loader). */
async function daemonMain(cfgFile: string): Promise<void> {
  const cfg = loadConfig({ file: cfgFile });
  const logger = createRootLogger({ level: 'info' });
  const daemon = new Daemon(cfg, { logger, peering: createPeering });
  await daemon.start();
  if (process.env['MESH_DEBUG']) {
    setInterval(() => {
      const d = daemon as unknown as { pusher: { pushes: number }; cache: { seq: number } };
      console.error(`daemon ${Date.now()} pushes=${d.pusher.pushes} seq=${d.cache.seq} peersSynced=${(daemon.peering!.status() as { conditions: { status: string }[] }[]).filter((x) => x.conditions[1]?.status === 'True').length}`);
    }, 2000).unref();
  }
  process.on('SIGTERM', () => void daemon.close().then(() => process.exit(0)));
}

if (require.main === module) {
  if (process.argv[2] === 'daemon') {
    daemonMain(process.argv[3]!).catch((e: Error) => {
      console.error(e.stack ?? e.message);
      process.exit(1);
    });
  } else if (process.send) {
    simMain();
  }
}
