import * as os from 'node:os';
import type { Figure, ScenarioResultWithSeries, Series } from '../lib/types';
import { connectStreams, startXdsRig } from '../lib/rig';
import { cpuPercent, percentile, sampleProc } from '../lib/proc';
import { churn } from '../lib/churn';
import { describePinning, pinningFromEnv, pinSelf } from '../lib/pin';

/**
 * Local pod churn (issue 6): W pods, pod replacements at 1, 10 and 100 per
 * second, simulated ztunnels connected. Daemon CPU % of one core and RSS from
 * /proc (daemon in its own process), p99 from the file write of a replacement
 * to each ztunnel receiving the new workload.
 */
export async function run(opts: { mode: 'quick' | 'full'; logDir: string }): Promise<ScenarioResultWithSeries> {
  const full = opts.mode === 'full';
  const shape = full
    ? { workloads: 50_000, services: 1000, policies: 100 }
    : { workloads: 10_000, services: 200, policies: 20 };
  // CHURN_STREAMS: simulated ztunnels (issue 20 target 5 reads CPU at 100/s with 200); XDS_PIN as in the xds scenario.
  const streams = Number(process.env['CHURN_STREAMS'] ?? 0) || (full ? 100 : 20);
  const pin = pinningFromEnv();
  if (pin) pinSelf(pin.clients);
  const seconds = full ? 30 : 8;
  const slots = 100;
  const rig = await startXdsRig({ name: 'churn', logDir: opts.logDir, shape: { ...shape, churnPods: slots }, pin });
  const { reg, daemon, sim } = rig;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const series: Series[] = [];
  try {
    await connectStreams(sim, streams);
    let gen = 1;
    for (const rate of [1, 10, 100]) {
      const a = sampleProc(daemon.pid);
      const n = await churn({
        reg,
        sim,
        ratePerSec: rate,
        seconds,
        slots,
        cluster: 'bench',
        services: shape.services,
        startGen: gen,
      });
      gen += n;
      const b = sampleProc(daemon.pid);
      // Drain: let the last replacements arrive before reading latencies (bounded by the report round trip).
      await new Promise((r) => setTimeout(r, 500)); // tail window for in-flight deliveries, not synchronisation
      sim.send({ cmd: 'report' });
      const rep = await sim.next('report');
      const lat = rep.lat as number[];
      const expected = n * streams;
      series.push({ chart: 'latency-cdf', label: `churn: ${rate} pod/s, ${streams} ztunnels`, values: lat });
      figures.push({
        name: `cpu_at_${rate}_per_s`,
        value: cpuPercent(a, b),
        unit: '% of one core',
        target: rate <= 1 ? { op: '<=', value: 10 } : undefined,
      });
      figures.push({ name: `rss_at_${rate}_per_s`, value: b.rssBytes / 1048576, unit: 'MiB' });
      figures.push({ name: `p50_at_${rate}_per_s`, value: percentile(lat, 50), unit: 'ms' });
      figures.push({
        name: `p99_at_${rate}_per_s`,
        value: percentile(lat, 99),
        unit: 'ms',
        target: { op: '<=', value: 100 },
      });
      figures.push({
        name: `delivered_at_${rate}_per_s`,
        value: lat.length / Math.max(1, expected),
        unit: 'fraction',
        target: { op: '>=', value: 0.99 },
      });
    }
    notes.push(
      `${streams} simulated ztunnels; ${shape.workloads} pods; each rate for ${seconds} s; ` +
        `latency = file write -> ztunnel receives the new pod`,
    );
    const load = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join('/');
    notes.push(`${describePinning(pin)}; load average (1/5/15 min) at end ${load}`);
    notes.push(
      "targets: CPU <= 10 % of one core at Solo's 1 replacement/s shape; p99 <= 100 ms (the seed's propagation bar)",
    );
  } finally {
    await rig.close();
  }
  const params = { ...shape, streams, seconds, rates: [1, 10, 100], pinned: describePinning(pin), mode: opts.mode };
  return { scenario: 'churn', params, figures, notes, series };
}
