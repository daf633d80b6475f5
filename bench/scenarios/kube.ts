// Scenario `kube`, two phases against a real kube-apiserver (+ etcd):
//  1. initial list of many pods/services into the registry store: the
//     registry half of the daemon runs alone as its own child (kube-daemon.js);
//     its RSS is read from /proc before and after the sync;
//  2. steady watch: the real daemon binary (registry.type kubernetes) serves a
//     simulated ztunnel's delta-xDS stream while this process changes pods
//     through the apiserver at a fixed rate; each change is matched to the
//     push that carries it (see steady()).
// Needs the binaries from tools/kube/ensure.sh (skips with a note otherwise).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as tls from 'node:tls';
import type { KubeApi } from '../../pkg/kube';
import { KubeApiError } from '../../pkg/kube';
import { waitFor } from '../../pkg/lifecycle';
import { TLS13_CIPHERS } from '../../pkg/transport';
import { findBinaries, TestCluster } from '../../e2e/kube/harness';
import { requestToken } from '../../e2e/kube/objects';
import { BENCH_CONNECTIONS_PER_SOURCE, startDaemonProc } from '../lib/daemon-proc';
import { SimZtunnel, TYPE_ADDRESS } from '../lib/h2-ztunnel';
import { cpuPercent, percentile, sampleProc } from '../lib/proc';
import { daemonPipeline } from '../lib/daemon-pipeline';
import { podIp, podNs, populate, SIZES, type Size } from '../lib/kube-populate';
import type { Figure, ScenarioResultWithSeries, Series } from '../lib/types';

/** Phase 1: the registry half of the daemon alone (kube-daemon.js) lists everything once. */
async function initialSync(cluster: TestCluster, logDir: string, notes: string[]): Promise<Figure[]> {
  const cfgFile = cluster.file('bench-client.json');
  fs.writeFileSync(
    cfgFile,
    JSON.stringify({
      server: cluster.url,
      ca: cluster.file('ca.crt'),
      cert: cluster.file('admin.crt'),
      key: cluster.file('admin.key'),
    }),
  );
  const log = fs.openSync(path.join(logDir, 'kube-daemon.log'), 'w');
  const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'kube-daemon.js'), cfgFile], {
    stdio: ['pipe', 'pipe', log],
  });
  fs.closeSync(log);
  // The child's stdout speaks the ready/go/synced protocol of kube-daemon.ts.
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
      {
        name: 'daemon_rss_growth_per_pod',
        value: (after.rssBytes - before.rssBytes) / Math.max(1, pods),
        unit: 'bytes',
      },
      { name: 'daemon_heap_used_after_gc_mb', value: Number(synced.heapUsed) / 2 ** 20, unit: 'MiB' },
      { name: 'daemon_sync_cpu_ms', value: after.cpuMs - before.cpuMs, unit: 'ms' },
      { name: 'pods_in_store', value: pods, unit: 'count' },
      { name: 'services_in_store', value: Number(synced.services), unit: 'count' },
    ];
    if (Number(synced.rejected) > 0) notes.push(`${synced.rejected} objects rejected by the store`);
    notes.push(
      'initial sync: daemon = KubeClient + 5 reflectors (Namespace, Node, Service, EndpointSlice, Pod; page size 500)' +
        ' + LocalRegistry, in its own process; apiserver and etcd are separate processes on the same 2 cores',
    );
    return figures;
  } finally {
    child.stdin!.end();
    await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  }
}

/**
 * Phase 2. The real daemon (registry.type kubernetes, admin client cert) and
 * one simulated ztunnel holding a delta-xDS stream to it; this process then
 * changes pods through the apiserver at `rate` per second for `seconds`
 * (open loop: change n is due at start + n/rate whether or not earlier writes
 * finished; at most MAX_IN_FLIGHT outstanding). Each change moves one pod,
 * never touched before in the window, to a new IP through the status
 * subresource (what a kubelet does); it is delivered when the ztunnel gets
 * a response naming that pod's workload. Two latencies per change:
 *  - watch → ztunnel (the figure, target p99 ≤ 50 ms): from the
 *    moment a reference watch on pods, opened by this process on the same
 *    apiserver, sees the change, i.e. when the apiserver fans the event out
 *    to every watcher including the daemon's reflector;
 *  - write → ztunnel: from just before the PATCH is sent, so it includes
 *    the apiserver's own write path (also reported alone as write ack).
 */
async function steady(o: {
  cluster: TestCluster;
  admin: KubeApi;
  size: Size;
  logDir: string;
}): Promise<{ figures: Figure[]; notes: string[]; series: Series[] }> {
  const { cluster, admin, size } = o;
  const MAX_IN_FLIGHT = 64;
  const create = async (p: string, body: object) =>
    admin.json('POST', p, { body }).catch((e: unknown) => {
      if (!(e instanceof KubeApiError && e.httpStatus === 409)) throw e;
    });
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  await create('/api/v1/namespaces/istio-system/serviceaccounts', {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'ztunnel' },
  });
  const token = await requestToken(admin, 'istio-system', 'ztunnel', { audiences: ['istio-ca'] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-bench-kube-'));
  const kubeconfig = path.join(dir, 'kubeconfig.json');
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'bench',
      clusters: [{ name: 'bench', cluster: { server: cluster.url, 'certificate-authority': cluster.file('ca.crt') } }],
      users: [
        {
          name: 'admin',
          user: { 'client-certificate': cluster.file('admin.crt'), 'client-key': cluster.file('admin.key') },
        },
      ],
      contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'admin' } }],
    }),
  );
  const daemon = await startDaemonProc({
    dir,
    logDir: o.logDir,
    name: 'kube-steady-daemon',
    // Diagnosis only (e.g. BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"), as in the xds/churn rigs;
    // figures are taken without it.
    nodeArgs: process.env.BENCH_DAEMON_NODE_ARGS ? process.env.BENCH_DAEMON_NODE_ARGS.split(' ') : undefined,
    config: {
      clusterId: 'Kubernetes',
      registry: { type: 'kubernetes', kubeconfig, syncTimeout: '600s' },
      ca: { rootKeyType: 'ec' },
      xds: { listen: '127.0.0.1:0', maxConnectionsPerSource: BENCH_CONNECTIONS_PER_SOURCE },
      admin: { metricsListen: '127.0.0.1:0', debugListen: '127.0.0.1:0' },
    },
  });
  const sent = new Map<string, number>();
  const watched = new Map<string, number>();
  const lat: number[] = [];
  // Per change, wall-clock ms (timeOrigin-based, so comparable across processes on this host): PATCH sent,
  // apiserver ack, reference watch, ztunnel receipt. Written to logs/kube-steady-changes.json so a tail can be
  // lined up with the daemon's own timeline (reflector receipt, push, GC) when diagnosing.
  const trace = new Map<string, { sent?: number; watch?: number; recv?: number; ack?: number }>();
  const fromWatch: number[] = [];
  const ack: number[] = [];
  let errors = 0;
  // ztunnel's gRPC client (tonic) sets TCP_NODELAY; so does this one, or Nagle + delayed ACK would add up to 40 ms
  // to its ACKs.
  const servername = 'istiod.istio-system.svc';
  const session = http2.connect(`https://127.0.0.1:${daemon.grpcPort}`, {
    createConnection: () => {
      const sock = tls.connect({
        host: '127.0.0.1',
        port: daemon.grpcPort,
        ca: daemon.rootCaPem,
        servername,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.3',
        ciphers: TLS13_CIPHERS,
      });
      sock.setNoDelay(true);
      return sock;
    },
  });
  session.on('error', () => undefined);
  const sim = new SimZtunnel({
    address: `127.0.0.1:${daemon.grpcPort}`,
    rootCaPem: daemon.rootCaPem,
    session,
    token,
    onResponse: (_c, r, at) => {
      if (r.typeUrl !== TYPE_ADDRESS) return;
      for (const n of r.names) {
        const t0 = sent.get(n);
        if (t0 === undefined) continue;
        lat.push(at - t0);
        sent.delete(n);
        trace.set(n, { ...trace.get(n), recv: performance.timeOrigin + at });
        arrived.set(n, at);
        const w = watched.get(n);
        if (w !== undefined) fromWatch.push(at - w);
      }
    },
  });
  /** Receipt times, for a watch event that is seen after the ztunnel already got the change. */
  const arrived = new Map<string, number>();
  const rssPeak = { v: 0 };
  let watch: { abort(): void } | undefined;
  const sampler = setInterval(() => (rssPeak.v = Math.max(rssPeak.v, sampleProc(daemon.pid).rssBytes)), 250);
  try {
    sim.start();
    await waitFor(() => sim.firstAt.has(TYPE_ADDRESS), {
      timeoutMs: 300_000,
      intervalMs: 50,
      what: 'initial Address push',
    });
    const initialResources = sim.resources;
    // The reference watch, from the current resourceVersion so it sees only the changes below.
    const list = await admin.json<{ metadata: { resourceVersion: string } }>('GET', '/api/v1/pods', {
      query: { limit: 1 },
    });
    const ws = await admin.stream('/api/v1/pods', {
      query: { watch: 1, resourceVersion: list.metadata.resourceVersion },
    });
    watch = ws;
    const gen1 = '10.1'; // generation-1 IPs are 10.1xx.* (podIp), generation 0 are 10.0.*
    void (async () => {
      for await (const batch of ws.lines()) {
        const at = performance.now();
        for (const line of batch) {
          const ev = JSON.parse(line) as {
            type: string;
            object: { metadata: { name: string; namespace: string }; status?: { podIP?: string } };
          };
          if (ev.type !== 'MODIFIED' || !ev.object.status?.podIP?.startsWith(gen1)) continue;
          const uid = `Kubernetes//Pod/${ev.object.metadata.namespace}/${ev.object.metadata.name}`;
          if (watched.has(uid)) continue;
          watched.set(uid, at);
          trace.set(uid, { ...trace.get(uid), watch: performance.timeOrigin + at });
          const got = arrived.get(uid);
          if (got !== undefined) fromWatch.push(got - at); // the daemon was faster than the reference watcher
        }
      }
    })().catch(() => undefined);
    const total = Math.min(size.pods, size.steadyRatePerS * size.steadySeconds);
    const interval = 1000 / size.steadyRatePerS;
    let inFlight = 0;
    let stalls = 0;
    const writes: Promise<void>[] = [];
    const a = sampleProc(daemon.pid);
    rssPeak.v = a.rssBytes;
    const start = performance.now();
    for (let n = 0; n < total; n++) {
      const due = start + n * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing the load, not synchronisation
      if (inFlight >= MAX_IN_FLIGHT) {
        stalls++;
        await waitFor(() => inFlight < MAX_IN_FLIGHT, { timeoutMs: 30_000, intervalMs: 1, what: 'a write slot' });
      }
      // Spread the changed pods over all namespaces and services: pod n*stride mod pods, stride coprime with pods.
      const i = (n * 7919) % size.pods;
      const ns = podNs(size, i);
      const ip = podIp(i, 1);
      sent.set(`Kubernetes//Pod/${ns}/pod-${i}`, performance.now());
      trace.set(`Kubernetes//Pod/${ns}/pod-${i}`, { sent: performance.timeOrigin + performance.now() });
      const t0 = performance.now();
      inFlight++;
      writes.push(
        admin
          .json('PATCH', `/api/v1/namespaces/${ns}/pods/pod-${i}/status`, {
            body: { status: { podIP: ip, podIPs: [{ ip }] } },
            contentType: 'application/merge-patch+json',
          })
          .then(
            () => {
              ack.push(performance.now() - t0);
              const k = `Kubernetes//Pod/${ns}/pod-${i}`;
              trace.set(k, { ...trace.get(k), ack: performance.timeOrigin + performance.now() });
            },
            () => {
              errors++;
              sent.delete(`Kubernetes//Pod/${ns}/pod-${i}`);
            },
          )
          .finally(() => inFlight--),
      );
    }
    const issuedS = (performance.now() - start) / 1000;
    await Promise.all(writes);
    // Deliveries still in flight: wait (bounded) until every acknowledged change has arrived.
    await waitFor(() => sent.size === 0, { timeoutMs: 10_000, intervalMs: 5, what: 'last deliveries' }).catch(
      () => undefined,
    );
    await waitFor(() => watched.size >= lat.length, { timeoutMs: 5_000, intervalMs: 5, what: 'reference watch' }).catch(
      () => undefined,
    );
    const b = sampleProc(daemon.pid);
    fs.writeFileSync(path.join(o.logDir, 'kube-steady-changes.json'), JSON.stringify([...trace]));
    const pipeline = await daemonPipeline(daemon.logFile);
    const delivered = lat.length / Math.max(1, total - errors);
    const figures: Figure[] = [
      { name: 'steady_watch_to_ztunnel_p50_ms', value: percentile(fromWatch, 50), unit: 'ms' },
      {
        name: 'steady_watch_to_ztunnel_p99_ms',
        value: percentile(fromWatch, 99),
        unit: 'ms',
        target: { op: '<=', value: 50 },
      },
      { name: 'steady_watch_to_ztunnel_max_ms', value: fromWatch.length ? Math.max(...fromWatch) : NaN, unit: 'ms' },
      { name: 'steady_watch_matched', value: fromWatch.length / Math.max(1, lat.length), unit: 'fraction' },
      { name: 'steady_write_to_ztunnel_p50_ms', value: percentile(lat, 50), unit: 'ms' },
      { name: 'steady_write_to_ztunnel_p99_ms', value: percentile(lat, 99), unit: 'ms' },
      { name: 'steady_delivered', value: delivered, unit: 'fraction', target: { op: '>=', value: 0.99 } },
      { name: 'steady_changes', value: total - errors, unit: 'count' },
      { name: 'steady_write_errors', value: errors, unit: 'count' },
      // The figures hold "at 100 changes/s" only if the load generator got the writes out that fast (an overloaded
      // apiserver slows it: at most 64 in flight).
      {
        name: 'steady_rate_issued',
        value: total / issuedS,
        unit: 'changes/s',
        target: { op: '>=', value: 0.95 * size.steadyRatePerS },
      },
      { name: 'steady_write_ack_p50_ms', value: percentile(ack, 50), unit: 'ms' },
      { name: 'steady_write_ack_p99_ms', value: percentile(ack, 99), unit: 'ms' },
      { name: 'steady_daemon_cpu', value: cpuPercent(a, b), unit: '% of one core' },
      { name: 'steady_daemon_rss_mb', value: b.rssBytes / 2 ** 20, unit: 'MiB' },
      { name: 'steady_daemon_rss_peak_mb', value: Math.max(rssPeak.v, b.rssBytes) / 2 ** 20, unit: 'MiB' },
      // The daemon's own view (its /metrics, whole run incl. the initial push): where a change's time goes inside it.
      { name: 'steady_daemon_debounce_mean_ms', value: pipeline.debounceMs, unit: 'ms' },
      { name: 'steady_daemon_build_mean_ms', value: pipeline.buildMs, unit: 'ms' },
      { name: 'steady_daemon_pushes', value: pipeline.pushes, unit: 'count' },
    ];
    const notes = [
      `steady: the daemon binary (registry.type kubernetes) + 1 simulated ztunnel (delta xDS); ${total} pod IP ` +
        `changes through the pods/status subresource at ${size.steadyRatePerS}/s for ${size.steadySeconds} s, ` +
        'each pod changed once; ' +
        'watch_to_ztunnel = a reference pod watch in the load generator sees the change -> the ztunnel receives a ' +
        "response naming that workload (the daemon's part); write_to_ztunnel = just before the apiserver PATCH is " +
        'sent -> same receipt (includes the apiserver/etcd write, alone in write_ack_*); CPU/RSS of the daemon ' +
        'process over the window',
      `steady: machine load average (1 min) at the end of the window: ${os.loadavg()[0]!.toFixed(1)} on ` +
        `${os.cpus().length} cores (apiserver, etcd, the daemon and this load generator share them)`,
      `steady: initial Address push carried ${initialResources} resources (${size.pods} pods + ` +
        `${size.services} services expected); ${stalls} write(s) waited for one of ${MAX_IN_FLIGHT} slots`,
    ];
    return {
      figures,
      notes,
      series: [
        {
          chart: 'latency-cdf',
          label: `kube: ${size.steadyRatePerS} pod changes/s, watch event -> ztunnel`,
          values: fromWatch.map((v) => Math.max(v, 0.1)),
        },
      ],
    }; // log-x chart: a receipt before the reference watch's (negative) plots at 0.1 ms
  } finally {
    watch?.abort();
    clearInterval(sampler);
    sim.close();
    session.close();
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResultWithSeries> {
  const size = SIZES[opts.mode];
  const bins = findBinaries();
  if (typeof bins === 'string')
    return { scenario: 'kube', params: { ...size }, figures: [], notes: [`skipped: ${bins}`] };
  const cluster = await TestCluster.start(bins);
  const notes: string[] = [];
  try {
    const admin = cluster.adminClient();
    const p0 = performance.now();
    await populate(admin, size);
    const populateS = (performance.now() - p0) / 1000;
    const figures = await initialSync(cluster, opts.logDir, notes);
    figures.push({ name: 'populate_s', value: populateS, unit: 's' });
    const st = await steady({ cluster, admin, size, logDir: opts.logDir });
    return {
      scenario: 'kube',
      params: { ...size, kubeApiserver: path.basename(bins.dir) },
      figures: [...figures, ...st.figures],
      notes: [...notes, ...st.notes],
      series: st.series,
    };
  } finally {
    await cluster.stop();
  }
}
