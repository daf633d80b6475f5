import type { Figure, ScenarioResult } from '../lib/types';
import { connectStreams, startXdsRig } from '../lib/rig';
import { percentile } from '../lib/proc';
import { churn } from '../lib/churn';

/**
 * One client that never reads while pods churn (issue 6): the daemon's heap
 * must stay bounded (a stuck stream costs one cursor, not a queue) and the
 * other clients' p99 must move by at most 10 %. Phase A churns with N healthy
 * clients; phase B adds a client that stops reading and churns again.
 */
export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResult> {
  const full = opts.mode === 'full';
  const shape = full ? { workloads: 50_000, services: 1000, policies: 100 } : { workloads: 10_000, services: 200, policies: 20 };
  const streams = full ? 100 : 20;
  // Two phases long enough that the p99 comparison is not dominated by run-to-run noise.
  const seconds = full ? 30 : 20;
  const rate = 20;
  const slots = 100;
  const rig = await startXdsRig({ name: 'slow-consumer', logDir: opts.logDir, shape: { ...shape, churnPods: slots } });
  const { reg, daemon, sim } = rig;
  const figures: Figure[] = [];
  try {
    await connectStreams(sim, streams);
    const phase = async (startGen: number): Promise<number[]> => {
      await churn({ reg, sim, ratePerSec: rate, seconds, slots, cluster: 'bench', services: shape.services, startGen });
      await new Promise((r) => setTimeout(r, 500)); // tail window for in-flight deliveries, not synchronisation
      sim.send({ cmd: 'report' });
      return (await sim.next('report')).lat as number[];
    };
    const heap = async (): Promise<number> => {
      const m = await daemon.memory();
      return (m.heapUsed + m.external) / 1048576;
    };
    const h0 = await heap();
    const a = await phase(1);
    const h1 = await heap();
    // A client that connects fresh (full state queued) and never reads a byte.
    sim.send({ cmd: 'connect', n: 1, withState: false, stuck: true });
    await sim.next('connected');
    // Measurement window starts once the stuck client's one-time initial push has been built and
    // handed to HTTP/2 (a fixed settle in a benchmark, not synchronisation in a test).
    await new Promise((r) => setTimeout(r, 2000));
    const b = await phase(1_000_000);
    const h2 = await heap();
    const pa = percentile(a, 99);
    const pb = percentile(b, 99);
    figures.push({ name: 'p99_without_stuck_client', value: pa, unit: 'ms' });
    figures.push({ name: 'p99_with_stuck_client', value: pb, unit: 'ms' });
    figures.push({ name: 'p99_change', value: pa > 0 ? (100 * (pb - pa)) / pa : 0, unit: '%', target: { op: '<=', value: 10 } });
    figures.push({ name: 'heap_before', value: h0, unit: 'MiB' });
    figures.push({ name: 'heap_after_healthy_churn', value: h1, unit: 'MiB' });
    figures.push({ name: 'heap_after_stuck_churn', value: h2, unit: 'MiB' });
    figures.push({ name: 'heap_growth_with_stuck_client', value: h2 - h1, unit: 'MiB', target: { op: '<=', value: 32 } });
  } finally {
    await rig.close();
  }
  return {
    scenario: 'slow-consumer',
    params: { ...shape, streams, seconds, ratePerSec: rate, mode: opts.mode },
    figures,
    notes: ['heap = JS heap + external after a full GC in the daemon; the stuck client asked for the full state and never read it (bounded by one in-flight response + HTTP/2 flow control)'],
  };
}
