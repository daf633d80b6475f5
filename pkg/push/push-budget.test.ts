import t from 'tap';
import { Debouncer } from './debouncer';
import { FakeTime } from './fake-time';
import { PushBudget } from './push-budget';

t.test('PushBudget: a full bucket lets a push start at once; a spent one asks for the time to refill', async (t) => {
  const b = new PushBudget(0.2, 0); // 200 ms of loop time per 1 s window
  t.equal(b.wait(0), 0, 'full at the start');
  b.started(0);
  t.equal(b.wait(10), Infinity, 'a push that has not settled holds the next one');
  b.settled(150); // 150 ms of work from a full bucket (capped at 200 while it ran): 50 left
  t.equal(b.wait(150), 0, 'credit left: may go');
  b.started(150);
  b.settled(250); // 50 + 0.2 × 100 − 100 = −30
  t.equal(b.wait(250), 150, '30 ms of debt at 0.2 ms per ms');
  t.equal(b.wait(280), 120);
  t.equal(b.wait(400), 0);
  t.equal(b.wait(1e6), 0, 'refills to the cap, no further');
  b.started(1e6);
  b.settled(1e6 + 210);
  t.equal(b.wait(1e6 + 210), 50, 'the cap is one window (200 ms), not a stored-up hour');
  b.settled(2e6);
  t.ok(b.wait(2e6) >= 0, 'settled with nothing running is a no-op');
  t.throws(() => new PushBudget(0, 0), RangeError);
  t.throws(() => new PushBudget(1.5, 0), RangeError);
});

/** A leading debouncer whose pushes each take `cost` ms of (fake) time and settle at their end. */
function churn(budget: PushBudget | undefined, cost: number, every: number, ms: number) {
  const time = new FakeTime();
  const pushes: { at: number; firstAt: number; paced: boolean }[] = [];
  const d: Debouncer = new Debouncer({
    after: 5,
    max: 50,
    clock: time.clock,
    timers: time,
    budget,
    fire: () => {
      pushes.push({ at: time.now, firstAt: d.batchFirstAt, paced: d.batchPaced });
      time.now += 1; // build and commit
      // The fan-out writes the streams over later turns (pkg/xds FanOut) and ends `cost` ms after the start.
      time.setTimeout(() => d.settled(), cost - 1);
    },
  });
  for (let at = 0; at < ms; at += every) {
    time.advance(at - time.now);
    d.poke();
  }
  time.advance(200);
  d.close();
  return pushes;
}

t.test('Debouncer with a budget: churn is spaced to the budget, and no change waits longer than max', async (t) => {
  // 100 changes/s for 2 s, each push 8 ms of work (200 ztunnels in the churn bench).
  const free = churn(undefined, 8, 10, 2000);
  t.equal(free.length, 200, 'without a budget: one push per change');
  const paced = churn(new PushBudget(0.2, 0), 8, 10, 2000);
  const busy = paced.length * 8;
  t.ok(busy <= 0.2 * 2200 + 200, `pushes kept the loop busy ${busy} ms of 2,200 (≤ 20 % + one window's cap)`);
  t.ok(paced.length >= 40, `still a push at least every ~50 ms: ${paced.length}`);
  t.ok(
    paced.every((p) => p.at - p.firstAt <= 50),
    'every batch started within max of its first change',
  );
  t.ok(
    paced.some((p) => p.paced),
    'batches that waited for the budget are marked',
  );
  t.notOk(paced[0]!.paced, 'the first change, on a full budget, is not');
});

t.test('Debouncer with a budget: a change after a quiet period goes out at once', async (t) => {
  const time = new FakeTime();
  const fired: number[] = [];
  const d: Debouncer = new Debouncer({
    after: 5,
    max: 50,
    clock: time.clock,
    timers: time,
    budget: new PushBudget(0.2, 0),
    fire: () => {
      fired.push(time.now);
      time.now += 30;
      time.setImmediate(() => d.settled());
    },
  });
  d.poke();
  time.endTurn();
  t.same(fired, [0], 'pushed at the end of its turn');
  time.advance(1000);
  d.poke();
  time.endTurn();
  t.same(fired, [0, 1030], 'a second lone change a second later: no wait either');
  d.close();
});

t.test('Debouncer with a budget: a push that never settles holds the next one for max, not longer', async (t) => {
  const time = new FakeTime();
  const fired: number[] = [];
  const d = new Debouncer({
    after: 5,
    max: 50,
    clock: time.clock,
    timers: time,
    budget: new PushBudget(0.2, 0),
    fire: () => fired.push(time.now),
  });
  d.poke();
  time.endTurn();
  time.advance(10);
  d.poke();
  time.advance(49.9);
  t.same(fired, [0], 'waiting on the unsettled push');
  time.advance(0.1);
  t.same(fired, [0, 60], 'at max');
  d.close();
  t.equal(time.pendingTimers, 0);
});
