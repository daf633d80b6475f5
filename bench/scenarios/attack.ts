import * as os from 'node:os';
import * as path from 'node:path';
import type { Figure, ScenarioResult } from '../lib/types';
import { writeAtomic } from '../lib/mesh-gen';
import { SimProc, wallNow } from '../lib/sim-proc';
import { connectStreams, startXdsRig } from '../lib/rig';
import { cpuPercent, sampleProc } from '../lib/proc';
import { ATTACKS } from '../lib/attacks';
import { abFigures, pooledPercentile } from '../lib/ab-rounds';

/**
 * What one phase measured: every ztunnel's receipt of each change (ms), each reconnect (ms), RSS peak (MiB), and
 * the CPU (% of one core) of the daemon and of the attacker process over the phase.
 */
interface Phase {
  change: number[];
  reconnect: number[];
  rssMiB: number;
  daemonCpu: number;
  attackerCpu: number;
}

/**
 * Legitimate clients under attack (issue 18): for each attack of
 * bench/sim/attack-sim.ts, 100 simulated ztunnels' latency for a single
 * change and for one ztunnel reconnect (presenting the state it holds),
 * without the attack (phase A) and during it (phase B), and the daemon's
 * RSS. Each attack runs `rounds` interleaved A/B pairs, the order
 * alternating (A,B then B,A …), so a change in the machine's background
 * load hits both sides alike; the statistics pool every A phase against
 * every B phase of that attack (bench/lib/ab-rounds.ts): change p99 over all
 * ztunnel receipts, reconnect p95 over all reconnects (p99 from 100 a
 * side), with per-round ratios as INFO. Targets: pooled p99 with ≤ 2× p99
 * without, and RSS at most 256 MiB above the idle figure (100 ztunnels
 * connected, no attack). `control` runs the same rounds with no attack in
 * B: its ratios are the statistics' own A-vs-A noise. The daemon runs with
 * default limits; the ztunnels share 127.0.0.1 (101 connections, under the
 * 128 per source) and each attack has its own 127.0.1.x source address.
 */
export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResult> {
  const full = opts.mode === 'full';
  const env = (k: string, d: number): number => Number(process.env[k] ?? d);
  // ATTACK_ONLY=names_flood,nack_flood runs those attacks only (diagnosis; the daemon inherits the environment,
  // so e.g. AMBIENTD_XDS_STREAM_NAMES_PER_SECOND compares a setting against the default in the same way).
  const only = process.env.ATTACK_ONLY?.split(',').filter((x) => x);
  const attacks = ATTACKS.filter((a) => !only || only.includes(a));
  const shape = full
    ? { workloads: 50_000, services: 1000, policies: 100 }
    : { workloads: 10_000, services: 200, policies: 20 };
  const ztunnels = 100;
  const rounds = env('ATTACK_ROUNDS', full ? 5 : 4);
  const changes = env('ATTACK_CHANGES', full ? 20 : 10); // per phase
  // 25 per phase: 100+ reconnects a side, so the reconnect figure is a p99 as issue 18 asks, not a p95.
  const reconnects = env('ATTACK_RECONNECTS', 25); // per phase
  const settleMs = full ? 3000 : 1500;
  const started = Date.now();
  const loadStart = os.loadavg();
  const rig = await startXdsRig({
    name: 'attack',
    logDir: opts.logDir,
    shape: { ...shape, churnPods: 1 },
    xds: { maxConnectionsPerSource: 128 },
  });
  const { reg, mesh, daemon, sim } = rig;
  const attacker = new SimProc(path.join(__dirname, '..', 'sim', 'attack-sim.js'));
  // Diagnosis: ATTACK_NICE=19 runs the attacker at a lower CPU priority, telling the daemon's cost of an attack
  // apart from the attacker process taking a share of the machine's cores (an attacker elsewhere takes none).
  if (process.env.ATTACK_NICE) os.setPriority(attacker.pid, Number(process.env.ATTACK_NICE));
  const figures: Figure[] = [];
  const notes: string[] = [];
  const detail: Record<string, unknown> = {};
  let gen = 1000;
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  try {
    await attacker.next('ready');
    attacker.send({ cmd: 'init', init: { address: `127.0.0.1:${daemon.grpcPort}`, token: daemon.token } });
    await connectStreams(sim, ztunnels);

    let rssMax = 0;
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, sampleProc(daemon.pid).rssBytes)), 100);
    /** One phase: `changes` single changes (every ztunnel's receipt is a sample), then `reconnects` reconnects. */
    const phase = async (): Promise<Phase> => {
      const d0 = sampleProc(daemon.pid);
      const a0 = sampleProc(attacker.pid);
      rssMax = d0.rssBytes;
      const change: number[] = [];
      for (let k = 0; k < changes; k++) {
        const c = mesh.churnPod(0, gen++);
        sim.send({ cmd: 'expect', uid: `bench//Pod/${c.uid}` });
        await sim.next('expecting');
        const t0 = wallNow();
        writeAtomic(path.join(reg, c.file), c.yaml);
        change.push(...((await sim.next('got', 120_000)).times as number[]).map((x) => x - t0));
        // Spacing: each change meets a settled daemon (pacing, not synchronisation).
        await pause(50);
      }
      const reconnect: number[] = [];
      for (let k = 0; k < reconnects; k++) {
        sim.send({ cmd: 'connect', n: 1, withState: true });
        reconnect.push(Number((await sim.next('connected', 120_000)).ms));
        sim.send({ cmd: 'closeLast', n: 1 });
        await sim.next('lastClosed');
      }
      const daemonCpu = cpuPercent(d0, sampleProc(daemon.pid));
      return {
        change,
        reconnect,
        rssMiB: rssMax / 1048576,
        daemonCpu,
        attackerCpu: cpuPercent(a0, sampleProc(attacker.pid)),
      };
    };
    /** Phase B: the attack started and at its steady pressure, measured, stopped, and what it left cleared. */
    const attacked = async (a: string): Promise<{ p: Phase; stats: unknown }> => {
      if (a !== 'control') {
        attacker.send({ cmd: 'start', attack: a });
        await attacker.next('started');
      }
      // Let the attack reach its steady pressure (a benchmark settle, not synchronisation in a test).
      await pause(settleMs);
      const p = await phase();
      let stats: unknown = 'no attack';
      if (a !== 'control') {
        attacker.send({ cmd: 'stop' });
        stats = (await attacker.next('stopped', 60_000)).stats;
      }
      // Let what the attack left behind (closing sockets, expiring deadlines) clear before the next A phase.
      await pause(settleMs);
      return { p, stats };
    };

    await phase(); // warm-up (JIT, first GCs), discarded
    const idleRss = sampleProc(daemon.pid).rssBytes / 1048576;
    figures.push({ name: 'idle_rss', value: idleRss, unit: 'MiB' });
    for (const a of ['control', ...attacks] as const) {
      const control = a === 'control';
      const A: Phase[] = [];
      const B: Phase[] = [];
      const stats: unknown[] = [];
      for (let r = 0; r < rounds; r++) {
        // Order alternates: A,B in even rounds, B,A in odd ones.
        if (r % 2 === 0) A.push(await phase());
        const b = await attacked(a);
        B.push(b.p);
        stats.push(b.stats);
        if (r % 2 === 1) A.push(await phase());
      }
      const twice = control ? undefined : { op: '<=' as const, value: 2 };
      const ch = abFigures(
        `${a}.change`,
        A.map((p) => p.change),
        B.map((p) => p.change),
        twice,
      );
      const rc = abFigures(
        `${a}.reconnect`,
        A.map((p) => p.reconnect),
        B.map((p) => p.reconnect),
        twice,
      );
      figures.push(...ch.figures, ...rc.figures);
      const peak = Math.max(...B.map((p) => p.rssMiB));
      const rssTarget = control ? undefined : { op: '<=' as const, value: 256 };
      figures.push({ name: `${a}.rss_over_idle`, value: peak - idleRss, unit: 'MiB', target: rssTarget });
      // Where a slower B comes from: the daemon's own work, or the attacker process taking a share of the 2 cores.
      const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
      figures.push({ name: `${a}.daemon_cpu_without`, value: mean(A.map((p) => p.daemonCpu)), unit: '%' });
      figures.push({ name: `${a}.daemon_cpu_with`, value: mean(B.map((p) => p.daemonCpu)), unit: '%' });
      figures.push({ name: `${a}.attacker_cpu_with`, value: mean(B.map((p) => p.attackerCpu)), unit: '%' });
      const ratios = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
      const rss = `RSS peak ${peak.toFixed(0)} MiB (idle ${idleRss.toFixed(0)})`;
      notes.push(
        `${a}: per-round change ratios ${ratios(ch.perRound)}, reconnect ${ratios(rc.perRound)}; ` +
          `attacker ${JSON.stringify(stats[stats.length - 1])}; ${rss}`,
      );
      detail[a] = {
        changeRoundRatios: ch.perRound,
        reconnectRoundRatios: rc.perRound,
        reconnectsWithout: A.map((p) => p.reconnect),
        reconnectsWith: B.map((p) => p.reconnect),
        rssPeakMiB: B.map((p) => p.rssMiB),
        attacker: stats,
      };
    }
    clearInterval(rssTimer);
    const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
    const load = os.loadavg();
    detail.loadAverage = { start: loadStart, end: load };
    figures.push({ name: 'duration', value: (Date.now() - started) / 1000, unit: 's' });
    notes.push(`load average at the start: ${fmt(loadStart)}, at the end: ${fmt(load)} (${os.cpus().length} cores)`);
    const q = pooledPercentile([Array(rounds * reconnects).fill(0)], [Array(rounds * reconnects).fill(0)]);
    notes.push(
      `${rounds} interleaved A/B rounds per attack (order alternating), ${changes} changes and ${reconnects} ` +
        `reconnects per phase. change = every ztunnel's receipt of a single pod change, from the file write, p99 ` +
        `pooled over all rounds (${rounds * changes * ztunnels} samples a side); reconnect = one ztunnel presenting ` +
        `the full state it holds, until both types are answered, p${q} pooled over ${rounds * reconnects} a side ` +
        '(p99 from 100); *_round_ratio_min/median = the same statistic per round, B over A of that round',
    );
  } finally {
    attacker.close();
    await rig.close();
  }
  return {
    scenario: 'attack',
    params: {
      ...shape,
      ztunnels,
      rounds,
      changesPerPhase: changes,
      reconnectsPerPhase: reconnects,
      attacks,
      mode: opts.mode,
    },
    figures,
    notes,
    detail,
  };
}
