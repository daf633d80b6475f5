import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { FastCounter } from './fast-counter';

t.test('FastCounter exposes exactly what prom-client Counter exposes for the same increments', async (t) => {
  const a = new Registry();
  const b = new Registry();
  const fast = new FastCounter({ name: 'x_total', help: 'help text', labelName: 'type', registers: [a] });
  const ref = new Counter({ name: 'x_total', help: 'help text', labelNames: ['type'], registers: [b] });
  t.equal(await a.metrics(), await b.metrics(), 'no series before the first inc');
  const fa = fast.labels({ type: 'Address' });
  const ra = ref.labels({ type: 'Address' });
  for (let i = 0; i < 5; i++) {
    fa.inc();
    ra.inc();
  }
  fast.labels({ type: 'Authorization' }).inc(2.5);
  ref.labels({ type: 'Authorization' }).inc(2.5);
  fa.inc(0);
  ra.inc(0);
  t.equal(await a.metrics(), await b.metrics(), 'two series, same values and order');
  t.match(await a.metrics(), /x_total\{type="Address"\} 5\n/);
  fa.inc(Number.NaN); // ignored (prom-client throws; a metric must never break the hot path)
  fa.inc(-1);
  t.match(await a.metrics(), /x_total\{type="Address"\} 5\n/, 'NaN and negative increments ignored');
  a.resetMetrics();
  b.resetMetrics();
  t.equal(await a.metrics(), await b.metrics(), 'reset drops every series');
  fa.inc();
  ra.inc();
  t.equal(await a.metrics(), await b.metrics(), 'a child kept from before the reset counts again from 0');
});
