import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../lifecycle';

/** prom-client defaults whose names break Prometheus naming rules (removed after registration). */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The process's own metrics: prom-client's defaults (less the misnamed ones) and istiod's uptime gauge. */
export function processMetrics(metrics: Registry, clock: Clock, startedAt: number): void {
  collectDefaultMetrics({ register: metrics });
  // prom-client also exports the sums of nodejs_active_{handles,requests,resources} as gauges named
  // *_total, a suffix Prometheus reserves for counters (promtool lint). The labelled gauges of the
  // same names without the suffix stay; their sum over `type` is the same number.
  for (const name of MISNAMED_DEFAULT_GAUGES) metrics.removeSingleMetric(name);
  new Gauge({
    name: 'istiod_uptime_seconds',
    help: 'Current istiod server uptime in seconds',
    registers: [metrics],
    collect(this: Gauge): void {
      this.set((clock.now() - startedAt) / 1000);
    },
  });
}
