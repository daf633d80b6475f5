import t from 'tap';
import { waitFor } from '../lifecycle';
import type { RegistrySink } from '../kube';
import { ParkedSink } from './parked-sink';

/** A registry stand-in that records what reaches it, in order. */
function recorder(): { sink: RegistrySink; calls: string[] } {
  const calls: string[] = [];
  const name = (o: Record<string, unknown>): string => (o['metadata'] as { name: string }).name;
  return {
    calls,
    sink: {
      registerSource: (id) => calls.push(`register ${id}`),
      replaceSource: (id, objs) => calls.push(`replace ${id} ${objs.map((o) => name(o.obj)).join(',')}`),
      applyEvents: (id, evs) => calls.push(`events ${id} ${evs.map((e) => `${e.type}:${name(e.obj)}`).join(',')}`),
      markLoaded: (id) => calls.push(`loaded ${id}`),
    },
  };
}

const obj = (name: string): Record<string, unknown> => ({ metadata: { name } });

/** A gate that keeps the drains until the test runs them; counts how often it was told. */
function heldGate(): { defer: (d: () => void) => void; told: number; run: () => void } {
  const drains = new Set<() => void>();
  const g = {
    told: 0,
    defer(d: () => void) {
      g.told++;
      drains.add(d);
    },
    run() {
      for (const d of [...drains]) d();
      drains.clear();
    },
  };
  return g;
}

t.test('watch events wait for the drain, then reach the registry in arrival order', async (t) => {
  const { sink, calls } = recorder();
  const gate = heldGate();
  const parked = new ParkedSink(sink, gate, 60_000);
  parked.registerSource('kube:Pod');
  parked.applyEvents('kube:Pod', [{ type: 'upsert', obj: obj('a') }]);
  parked.applyEvents('kube:Namespace', [{ type: 'upsert', obj: obj('ns') }]);
  parked.applyEvents('kube:Pod', [{ type: 'delete', obj: obj('a') }]);
  parked.applyEvents('kube:Pod', []);
  t.same(calls, ['register kube:Pod'], 'nothing applied before the drain');
  t.equal(gate.told, 3, 'each chunk with events told the gate (a change for the debounce)');
  gate.run();
  t.same(calls.slice(1), ['events kube:Pod upsert:a', 'events kube:Namespace upsert:ns', 'events kube:Pod delete:a']);
  gate.run();
  t.equal(calls.length, 4, 'a second drain applies nothing twice');
});

t.test('a list or a first complete list applies what is parked first', async (t) => {
  const { sink, calls } = recorder();
  const parked = new ParkedSink(sink, heldGate(), 60_000);
  parked.applyEvents('kube:Pod', [{ type: 'upsert', obj: obj('a') }]);
  parked.replaceSource('kube:Service', [{ obj: obj('s') }]);
  parked.applyEvents('kube:Pod', [{ type: 'upsert', obj: obj('b') }]);
  parked.markLoaded('kube:Pod');
  t.same(calls, ['events kube:Pod upsert:a', 'replace kube:Service s', 'events kube:Pod upsert:b', 'loaded kube:Pod']);
});

t.test('a gate that never drains is not waited for past waitMs', async (t) => {
  const { sink, calls } = recorder();
  const gate = heldGate();
  const parked = new ParkedSink(sink, gate, 30);
  parked.applyEvents('kube:Pod', [{ type: 'upsert', obj: obj('a') }]);
  await waitFor(() => calls.length === 1, { timeoutMs: 5000, what: 'applied without the gate' });
  t.same(calls, ['events kube:Pod upsert:a']);
  gate.run();
  t.equal(calls.length, 1, 'the late drain applies nothing twice');
});
