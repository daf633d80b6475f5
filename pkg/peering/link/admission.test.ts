import t from 'tap';
import { waitFor } from '../../lifecycle';
import { Admission } from './admission';

t.test(
  'at most `limit` owners at once, FIFO, coalescing re-asks, release frees a slot or drops a waiter',
  async (t) => {
    const q = new Admission({ limit: 2, holdMs: 600_000 });
    t.teardown(() => q.clear());
    const started: string[] = [];
    const [a, b, c, d, e] = [{}, {}, {}, {}, {}];
    q.admit(a, () => started.push('a'));
    q.admit(b, () => started.push('b'));
    q.admit(c, () => started.push('c-old'));
    q.admit(d, () => started.push('d'));
    q.admit(e, () => started.push('e'));
    t.same(started, ['a', 'b']);
    t.equal(q.inFlight, 2);
    t.equal(q.queued, 3);
    // Asking again while waiting keeps the place in line and the newest callback: still one entry.
    q.admit(c, () => started.push('c'));
    t.equal(q.queued, 3, 'coalesced');
    // A waiter that gives up leaves the line without taking a slot.
    q.release(d);
    t.equal(q.queued, 2);
    q.release(a);
    t.same(started, ['a', 'b', 'c'], 'c (first in line) starts, with its newest callback');
    q.release(a);
    t.same(started, ['a', 'b', 'c'], 'a second release of the same owner is a no-op');
    t.equal(q.inFlight, 2);
    q.release(b);
    t.same(started, ['a', 'b', 'c', 'e'], 'd gave up, so e is next');
    q.release(c);
    q.release(e);
    t.equal(q.inFlight, 0);
    t.equal(q.admitted, 4);
  },
);

t.test('an owner that never releases gives its slot back after holdMs', async (t) => {
  const q = new Admission({ limit: 1, holdMs: 20 });
  t.teardown(() => q.clear());
  const stuck = {};
  const next = {};
  let nextStarted = false;
  q.admit(stuck, () => undefined);
  q.admit(next, () => void (nextStarted = true));
  t.equal(nextStarted, false);
  await waitFor(() => nextStarted, { timeoutMs: 10_000 });
  t.equal(q.inFlight, 1);
  q.release(stuck); // late release of an expired turn: no effect on the current holder
  t.equal(q.inFlight, 1);
});

t.test('a start that throws frees its slot', async (t) => {
  const q = new Admission({ limit: 1, holdMs: 600_000 });
  t.teardown(() => q.clear());
  t.throws(
    () =>
      q.admit({}, () => {
        throw new Error('boom');
      }),
    /boom/,
  );
  t.equal(q.inFlight, 0);
  let ran = false;
  q.admit({}, () => void (ran = true));
  t.ok(ran);
  t.throws(() => new Admission({ limit: 0, holdMs: 1 }), /limit/);
});
