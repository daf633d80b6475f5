import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from './metrics';

t.test('FastHistogram exposes exactly what prom-client Histogram exposes for the same observations', async (t) => {
  const buckets = [0.001, 0.01, 0.1, 1, 10];
  const a = new Registry();
  const b = new Registry();
  const fast = new FastHistogram({ name: 'x_seconds', help: 'help text', buckets, registers: [a] });
  const ref = new Histogram({ name: 'x_seconds', help: 'help text', buckets, registers: [b] });
  const samples = [0, 0.0005, 0.001, 0.0011, 0.05, 0.1, 0.5, 1, 3, 10, 10.5, 1e6];
  for (const v of samples) {
    fast.observe(v);
    ref.observe(v);
  }
  fast.observe(Number.NaN); // ignored (prom-client throws; a metric must never break the hot path)
  t.equal(await a.metrics(), await b.metrics());
  a.resetMetrics();
  t.match(await a.metrics(), /x_seconds_count 0/);
});
