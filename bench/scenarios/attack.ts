import * as os from 'node:os';
import * as path from 'node:path';
import type { Figure, ScenarioResult } from '../lib/types';
import { writeAtomic } from '../lib/mesh-gen';
import { SimProc, wallNow } from '../lib/sim-proc';
import { connectStreams, startXdsRig } from '../lib/rig';
import { percentile, sampleProc } from '../lib/proc';
import { ATTACKS } from '../lib/attacks';

/**
 * Legitimate clients under attack (issue 18): for each attack of
 * bench/sim/attack-sim.ts, 100 simulated ztunnels' p99 for a single change
 * and the time of one ztunnel reconnect (presenting the state it holds),
 * without the attack (phase A) and during it (phase B), and the daemon's
 * RSS. A and B alternate per attack so a change in the machine's background
 * load hits both sides of a comparison alike. Targets: p99 with ≤ 2× p99
 * without, and RSS at most 256 MiB above the idle figure (100 ztunnels
 * connected, no attack). The daemon runs with default limits; the
 * ztunnels share 127.0.0.1 (101 connections, under the 128 per source) and
 * each attack has its own 127.0.1.x source address.
 */
export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResult> {
  const full = opts.mode === 'full';
  // ATTACK_ONLY=names_flood,nack_flood runs those attacks only (diagnosis; the daemon inherits the environment,
  // so e.g. AMBIENTD_XDS_STREAM_NAMES_PER_SECOND compares a setting against the default in the same way).
  const only = process.env.ATTACK_ONLY?.split(',').filter((x) => x);
  const attacks = ATTACKS.filter((a) => !only || only.includes(a));
  const shape = full
    ? { workloads: 50_000, services: 1000, policies: 100 }
    : { workloads: 10_000, services: 200, policies: 20 };
  const ztunnels = 100;
  const changes = full ? 60 : 30;
  const reconnects = full ? 10 : 5;
  const settleMs = full ? 3000 : 1500;
  const rig = await startXdsRig({
    name: 'attack',
    logDir: opts.logDir,
    shape: { ...shape, churnPods: 1 },
    xds: { maxConnectionsPerSource: 128 },
  });
  const { reg, mesh, daemon, sim } = rig;
  const attacker = new SimProc(path.join(__dirname, '..', 'sim', 'attack-sim.js'));
  const figures: Figure[] = [];
  const notes: string[] = [];
  let gen = 1000;
  try {
    await attacker.next('ready');
    attacker.send({ cmd: 'init', init: { address: `127.0.0.1:${daemon.grpcPort}`, token: daemon.token } });
    await connectStreams(sim, ztunnels);

    let rssMax = 0;
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, sampleProc(daemon.pid).rssBytes)), 100);
    /** One phase: `changes` single changes (every ztunnel's receipt is a sample), then `reconnects` reconnects. */
    const phase = async (): Promise<{ change: number[]; reconnect: number[]; rssMiB: number }> => {
      rssMax = sampleProc(daemon.pid).rssBytes;
      const change: number[] = [];
      for (let k = 0; k < changes; k++) {
        const c = mesh.churnPod(0, gen++);
        sim.send({ cmd: 'expect', uid: `bench//Pod/${c.uid}` });
        await sim.next('expecting');
        const t0 = wallNow();
        writeAtomic(path.join(reg, c.file), c.yaml);
        change.push(...((await sim.next('got', 120_000)).times as number[]).map((x) => x - t0));
        // Spacing: each change meets a settled daemon (pacing, not synchronisation).
        await new Promise((r) => setTimeout(r, 50));
      }
      const reconnect: number[] = [];
      for (let k = 0; k < reconnects; k++) {
        sim.send({ cmd: 'connect', n: 1, withState: true });
        reconnect.push(Number((await sim.next('connected', 120_000)).ms));
        sim.send({ cmd: 'closeLast', n: 1 });
        await sim.next('lastClosed');
      }
      return { change, reconnect, rssMiB: rssMax / 1048576 };
    };

    await phase(); // warm-up (JIT, first GCs), discarded
    const idleRss = sampleProc(daemon.pid).rssBytes / 1048576;
    figures.push({ name: 'idle_rss', value: idleRss, unit: 'MiB' });
    // `control` runs the same A/B pair with no attack at all: its ratios are this machine's A-vs-A noise for the
    // same statistics, reported beside the attacks' ratios (no target).
    for (const a of ['control', ...attacks] as const) {
      const control = a === 'control';
      const without = await phase();
      if (!control) {
        attacker.send({ cmd: 'start', attack: a });
        await attacker.next('started');
      }
      // Let the attack reach its steady pressure (a benchmark settle, not synchronisation in a test).
      await new Promise((r) => setTimeout(r, settleMs));
      const withA = await phase();
      let stopped: { stats?: unknown } = { stats: 'no attack' };
      if (!control) {
        attacker.send({ cmd: 'stop' });
        stopped = await attacker.next('stopped', 60_000);
      }
      const pa = percentile(without.change, 99);
      const pb = percentile(withA.change, 99);
      const ra = Math.max(...without.reconnect);
      const rb = Math.max(...withA.reconnect);
      figures.push({ name: `${a}.change_p99_without`, value: pa, unit: 'ms' });
      figures.push({ name: `${a}.change_p99_with`, value: pb, unit: 'ms' });
      const twice = control ? undefined : { op: '<=' as const, value: 2 };
      figures.push({ name: `${a}.change_p99_ratio`, value: pa > 0 ? pb / pa : 0, unit: 'x', target: twice });
      figures.push({ name: `${a}.reconnect_without`, value: ra, unit: 'ms' });
      figures.push({ name: `${a}.reconnect_with`, value: rb, unit: 'ms' });
      figures.push({ name: `${a}.reconnect_ratio`, value: ra > 0 ? rb / ra : 0, unit: 'x', target: twice });
      const rssTarget = control ? undefined : { op: '<=' as const, value: 256 };
      figures.push({ name: `${a}.rss_over_idle`, value: withA.rssMiB - idleRss, unit: 'MiB', target: rssTarget });
      const peak = `RSS peak ${withA.rssMiB.toFixed(0)} MiB (idle ${idleRss.toFixed(0)})`;
      notes.push(`${a}: attacker ${JSON.stringify(stopped.stats)}; ${peak}`);
      // Let what the attack left behind (closing sockets, expiring deadlines) clear before the next A phase.
      await new Promise((r) => setTimeout(r, settleMs));
    }
    clearInterval(rssTimer);
    const load = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    notes.push(`load average at the end: ${load} (${os.cpus().length} cores, shared)`);
    notes.push(
      "change p99 = every ztunnel's receipt of a single pod change, from the file write; reconnect = one " +
        'ztunnel presenting the full state it holds, until both types are answered (max of the phase)',
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
      changesPerPhase: changes,
      reconnectsPerPhase: reconnects,
      attacks,
      mode: opts.mode,
    },
    figures,
    notes,
  };
}
