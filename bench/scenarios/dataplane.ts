import * as os from 'node:os';
import type { Figure, ScenarioResultWithSeries, Series } from '../lib/types';
import { percentile, sampleProc } from '../lib/proc';
import { bulkPhase } from '../lib/dataplane-bulk';
import { Rig, type RigCluster, type RigPod } from '../../e2e/dataplane/harness';
import { gatewayPair } from '../../e2e/dataplane/gateway-topology';
import * as y from '../../e2e/dataplane/mesh-yaml';
import { untilEndpoints, WEB_GLOBAL_HOST } from '../../e2e/dataplane/topologies';

/**
 * The data plane with real ztunnels (issue 17), on the e2e/dataplane rig: two clusters on two networks, B's
 * pods behind B's east-west gateway (`ambientd eastwest`, its own process), one unmodified ztunnel per pod
 * (ZTUNNEL_WORKER_THREADS=1, upstream's quick-release profile from tools/ztunnel/ensure.sh). Two paths to the
 * same pods of B, measured alternately so background load on the shared machine hits both alike:
 *  - direct: a client pod in B → B's pods, ztunnel → ztunnel (single HBONE);
 *  - gateway: a client pod in A → web.shop.mesh.internal → B's gateway → B's pods (double HBONE).
 * For bulk, the gateway's floor too: a bare node:http2 relay swapped into its place, in the same run
 * (bench/lib/dataplane-bulk.ts; `rounds` = direct/X pairs per X). Every load run happens inside the client pod's
 * namespace (its agent, e2e/dataplane/agent-load.ts), through the pod's ztunnel's SOCKS5 listener, against the rig's
 * app (echo / sink). CPU and RSS come from /proc.
 * Propagation is measured at the data plane: a pod of a global service registered in B → the first successful
 * connection from A that the new pod answers.
 */
const SIZES = {
  quick: {
    bulkMiB: 128,
    rounds: 6,
    latRounds: 5,
    chunksPerRound: 2,
    rr: 2000,
    fresh: 150,
    connSeconds: 4,
    connConcurrency: 4,
    hold: 500,
    propagation: 8,
  },
  full: {
    bulkMiB: 512,
    rounds: 10,
    latRounds: 9,
    chunksPerRound: 2,
    rr: 5400,
    fresh: 400,
    connSeconds: 10,
    connConcurrency: 8,
    hold: 2000,
    propagation: 20,
  },
};

const median = (xs: number[]): number => percentile(xs, 50);

async function bulk(client: RigPod, vip: string, bytes: number): Promise<void> {
  const r = (await client.agent.load({ kind: 'bulk', host: vip, port: 80, bytes, streams: 1 })) as {
    received: number;
  };
  if (r.received !== bytes) throw new Error(`bulk: the app counted ${r.received} of ${bytes} bytes`);
}

/** Diagnosis only (e.g. BENCH_EASTWEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"); figures are taken without. */
const nodeArgs = (): string[] => (process.env.BENCH_EASTWEST_NODE_ARGS ?? '').split(' ').filter(Boolean);

async function rr(client: RigPod, vip: string, count: number, fresh: boolean): Promise<number[]> {
  const r = (await client.agent.load({ kind: 'rr', host: vip, port: 80, count, size: 64, fresh })) as {
    samples: number[];
  };
  return r.samples;
}

function tunnelsOpen(metrics: string): number {
  const m = /^ambientd_eastwest_tunnels_open(?:\{[^}]*\})? (\d+)/m.exec(metrics);
  return m ? Number(m[1]) : NaN;
}

export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResultWithSeries> {
  const size = SIZES[opts.mode];
  const why = Rig.unavailable();
  if (why) return { scenario: 'dataplane', params: { ...size }, figures: [], notes: [`skipped: ${why}`] };
  const rig = await Rig.create({ tag: 'bench' });
  const figures: Figure[] = [];
  const notes: string[] = [];
  const series: Series[] = [];
  const detail: Record<string, unknown> = { loadAverageAtStart: os.loadavg() };
  let ok = false;
  try {
    const { a, b, client, gw, web } = await gatewayPair(rig, { gatewayNodeArgs: nodeArgs() });
    const clientB = await b.addPod({ name: 'client-b', namespace: 'shop', labels: { app: 'client-b' } });
    const vipGw = await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
    const vipDirect = await untilEndpoints(clientB, 'web.shop.svc.cluster.local', 2);
    const paths = { direct: { c: clientB, vip: vipDirect }, gateway: { c: client, vip: vipGw } };
    // Warm-up, discarded: certificates, pooled outer connections, JIT in the gateway and the agents.
    for (const p of Object.values(paths)) {
      await rr(p.c, p.vip, 50, true);
      await bulk(p.c, p.vip, 16 << 20);
    }

    // 1. Bulk throughput, one flow, in direct/X pairs; X is the gateway or, in the same run, the bare node:http2
    //    relay in its place (its floor: bench/sim/relay-floor.ts). See bench/lib/dataplane-bulk.ts.
    const bp = await bulkPhase({
      direct: paths.direct,
      viaGateway: paths.gateway,
      gw,
      b,
      caDir: rig.caDir(b.name),
      web,
      workDir: rig.workDir,
      bytes: size.bulkMiB << 20,
      pairsPerPath: size.rounds,
    });
    figures.push(...bp.figures);
    notes.push(...bp.notes);
    detail.bulkPairs = bp.rounds;

    // 2. Latency of a 64-byte request/response: on an established connection, and on a new one (connect included).
    //    The gateway was restarted by the bulk phase: warm its small-message path first (discarded).
    await rr(client, vipGw, 50, true);
    await rr(client, vipGw, 200, false);
    const est = { direct: [] as number[], gateway: [] as number[] };
    const fresh = { direct: [] as number[], gateway: [] as number[] };
    const addedP99: number[] = [];
    // Rounds of small chunks, alternating, so load spikes on the shared machine land on both paths alike; the
    // established p99 target is judged on the median over rounds of (gateway p99 - direct p99) of each round.
    const perChunk = (n: number): number => Math.ceil(n / (size.latRounds * size.chunksPerRound));
    for (let round = 0; round < size.latRounds; round++) {
      const r = { direct: [] as number[], gateway: [] as number[] };
      for (let c = 0; c < size.chunksPerRound; c++) {
        const order =
          (round * size.chunksPerRound + c) % 2 === 0
            ? (['direct', 'gateway'] as const)
            : (['gateway', 'direct'] as const);
        for (const k of order) {
          r[k].push(...(await rr(paths[k].c, paths[k].vip, perChunk(size.rr), false)));
          fresh[k].push(...(await rr(paths[k].c, paths[k].vip, perChunk(size.fresh), true)));
        }
      }
      est.direct.push(...r.direct);
      est.gateway.push(...r.gateway);
      addedP99.push(percentile(r.gateway, 99) - percentile(r.direct, 99));
    }
    for (const [name, s] of [
      ['established', est],
      ['new', fresh],
    ] as const) {
      for (const p of [50, 99]) {
        figures.push({ name: `${name}_p${p}_direct`, value: percentile(s.direct, p), unit: 'ms' });
        figures.push({ name: `${name}_p${p}_gateway`, value: percentile(s.gateway, p), unit: 'ms' });
        const added = percentile(s.gateway, p) - percentile(s.direct, p);
        const judged = name === 'established' && p === 99;
        figures.push({ name: `${name}_p${p}_added_by_gateway${judged ? '_pooled' : ''}`, value: added, unit: 'ms' });
      }
    }
    figures.push({
      name: 'established_p99_added_by_gateway',
      value: median(addedP99),
      unit: 'ms',
      target: { op: '<=', value: 0.5 },
    });
    figures.push({ name: 'established_p99_added_by_gateway_min', value: Math.min(...addedP99), unit: 'ms' });
    detail.establishedP99AddedPerRound = addedP99;
    notes.push(
      `established p99 added by the gateway per round (ms): ${addedP99.map((x) => x.toFixed(3)).join(' ')}` +
        ` (${perChunk(size.rr) * size.chunksPerRound} samples per path and round); load average now ` +
        os
          .loadavg()
          .map((x) => x.toFixed(2))
          .join(' '),
    );
    series.push({
      chart: 'latency-cdf',
      label: 'dataplane: new connection + 64 B echo via gateway',
      values: fresh.gateway,
    });

    // 3. New connections per second through the gateway (connect, banner, close), and direct for reference.
    for (const k of ['gateway', 'direct'] as const) {
      const r = (await paths[k].c.agent.load({
        kind: 'connrate',
        host: paths[k].vip,
        port: 80,
        durationMs: size.connSeconds * 1000,
        concurrency: size.connConcurrency,
      })) as { ok: number; failed: number; ms: number };
      figures.push({ name: `new_connections_per_s_${k}`, value: (r.ok * 1000) / r.ms, unit: 'conn/s' });
      if (r.failed > 0) notes.push(`connrate ${k}: ${r.failed} failed connections`);
    }

    // 4. Gateway memory per open tunnel: N app connections held open through it.
    const rss0 = sampleProc(gw.proc.pid).rssBytes;
    const z0 = sampleProc(client.ztunnel!.proc.pid).rssBytes;
    await client.agent.load({ kind: 'hold', host: vipGw, port: 80, count: size.hold });
    const open = tunnelsOpen(await gw.metrics());
    const rss1 = sampleProc(gw.proc.pid).rssBytes;
    const z1 = sampleProc(client.ztunnel!.proc.pid).rssBytes;
    await client.agent.load({ kind: 'release' });
    if (open < size.hold) notes.push(`only ${open} of ${size.hold} tunnels open at the RSS sample`);
    figures.push({
      name: 'gateway_rss_per_tunnel',
      value: (rss1 - rss0) / 1024 / size.hold,
      unit: 'KiB',
      target: { op: '<=', value: 64 },
    });
    figures.push({ name: 'gateway_rss_with_tunnels', value: rss1 / 1048576, unit: 'MiB' });
    figures.push({ name: 'client_ztunnel_rss_per_connection', value: (z1 - z0) / 1024 / size.hold, unit: 'KiB' });

    // 5. Propagation at the data plane: a pod of web2 registered in B → first connection from A it answers.
    const samples = await propagation(a, b, client, size.propagation);
    figures.push({ name: 'propagation_scale_in_b_to_first_conn_from_a_p50', value: median(samples), unit: 'ms' });
    figures.push({ name: 'propagation_scale_in_b_to_first_conn_from_a_max', value: Math.max(...samples), unit: 'ms' });
    series.push({
      chart: 'latency-cdf',
      label: 'dataplane: pod added in B -> first connection from A',
      values: samples,
    });
    notes.push(`propagation samples (ms): ${samples.map((x) => x.toFixed(0)).join(' ')}`);
    notes.push(
      'paths: direct = pod in B -> B pods (single HBONE); ' +
        'gateway = pod in A -> B gateway -> B pods (double HBONE); ' +
        'every ztunnel with ZTUNNEL_WORKER_THREADS=1; all processes share the same cores',
    );
    ok = true;
  } finally {
    await rig.close({ keep: !ok });
  }
  detail.loadAverageAtEnd = os.loadavg();
  return { scenario: 'dataplane', params: { ...size, mode: opts.mode }, figures, notes, series, detail };
}

/**
 * web2 is global in A (no pods there, so A's ztunnels hold its VIP) and in B, where a ready pod with its ztunnel
 * waits outside the registry. Each sample: a probe loop starts in A's client (new connections until the new pod
 * answers), the pod is written into B's registry, the probe's answer ends the sample; then the pod is removed
 * and A's ztunnel is seen without the endpoint before the next sample.
 */
async function propagation(a: RigCluster, b: RigCluster, client: RigPod, n: number): Promise<number[]> {
  const svc = (vip: string): string =>
    y.service({
      name: 'web2',
      namespace: 'shop',
      clusterIP: vip,
      labels: { 'solo.io/service-scope': 'global' },
      ports: [{ name: 'tcp-echo', port: 80, targetPort: 8080 }],
    });
  a.write('20-web2.yaml', svc(a.nextVip()));
  b.write('20-web2.yaml', svc(b.nextVip()));
  const host = 'web2.shop.mesh.internal';
  const pod = await b.addPod({
    name: 'web2-0',
    namespace: 'shop',
    labels: { app: 'web2' },
    serve: [8080],
    register: false,
  });
  const vip = await untilEndpoints(client, host, 0);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const probe = client.agent.load({ kind: 'probe', host: vip, port: 80, timeoutMs: 30_000, expect: 'web2-0' });
    const t0 = performance.now();
    b.registerPod(pod);
    const r = (await probe) as { ms?: number; error?: string };
    if (r.error) throw new Error(`propagation sample ${i}: ${r.error}`);
    out.push(performance.now() - t0);
    b.unregisterPod(pod);
    await untilEndpoints(client, host, 0);
  }
  return out;
}
