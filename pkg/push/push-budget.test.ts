import t from 'tap';
import { Debouncer, PROBE_AFTERS } from './debouncer';
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

/** A leading debouncer (after 5 ms, max 50 ms) on `time` with `budget`. */
function budgeted(time: FakeTime, budget: PushBudget | undefined, fire: () => void): Debouncer {
  return new Debouncer({ after: 5, max: 50, clock: time.clock, timers: time, budget, fire });
}

/** A leading debouncer whose pushes each take `cost` ms of (fake) time and settle at their end. */
function churn(budget: PushBudget | undefined, cost: number, every: number, ms: number) {
  const time = new FakeTime();
  const pushes: { at: number; firstAt: number; paced: boolean }[] = [];
  const d = budgeted(time, budget, () => {
    pushes.push({ at: time.now, firstAt: d.batchFirstAt, paced: d.batchPaced });
    time.now += 1; // build and commit
    // The fan-out writes the streams over later turns (pkg/xds FanOut) and ends `cost` ms after the start.
    time.setTimeout(() => d.settled(), cost - 1);
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
  const d = budgeted(time, new PushBudget(0.2, 0), () => {
    fired.push(time.now);
    time.now += 30;
    time.setImmediate(() => d.settled());
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
  const d = budgeted(time, new PushBudget(0.2, 0), () => fired.push(time.now));
  d.poke();
  time.endTurn();
  time.advance(10);
  d.poke();
  time.advance(4);
  d.poke(); // churn: a further change arrives while the batch is held, so holding pays and goes on
  time.advance(45.9);
  t.same(fired, [0], 'waiting on the unsettled push');
  time.advance(0.1);
  t.same(fired, [0, 60], 'at max');
  d.close();
  t.equal(time.pendingTimers, 0);
});

t.test('PushBudget: misses turn holding off for a window, doubling while they repeat; paid() resets', async (t) => {
  let offs = 0;
  const b = new PushBudget(0.1, 0, 1000, () => offs++); // 100 ms of loop time per 1 s window
  b.started(0);
  b.settled(300); // 100 + 30 − 300 = −170 ms: in debt
  t.ok(b.wait(300) > 0, 'in debt: holds');
  b.missed(300);
  t.equal(b.wait(300), 0, 'after a miss: off');
  t.equal(b.wait(1299), 0, 'off for one window');
  b.started(1300);
  b.settled(1800); // spend again: in debt at 1,800
  t.ok(b.wait(1800) > 0, 'holding is back after the window');
  b.missed(1800);
  t.equal(b.wait(3799), 0, 'a second miss in a row: off for two windows');
  t.ok(b.wait(3800) > 0, 'and back after them');
  b.paid();
  b.missed(3800);
  b.missed(3800);
  t.ok(b.wait(3800) > 0, 'after a hold that gained, two misses in a row are tolerated');
  b.missed(3800);
  t.equal(b.wait(4799), 0, 'the third turns holding off, for one window again');
  b.started(4800);
  b.settled(4900); // spend again: in debt
  t.ok(b.wait(4900) > 0, 'and holding is back after it');
  for (let i = 0; i < 10; i++) b.missed(5000);
  b.started(68_000);
  b.settled(68_999); // in debt again
  t.equal(b.wait(68_999), 0, 'ten misses in a row: off for 64 windows, not 1,024');
  t.ok(b.wait(69_000) > 0, 'holding again after them');
  t.equal(offs, 13, 'onOff once per turn-off: 2, then 1 after paid(), then 10');
});

t.test('Debouncer with a budget: a change that waits for the previous one to arrive is seldom held', async (t) => {
  // A closed loop: each change is made 2 ms after the previous push settled; each push keeps the loop 20 ms, so
  // the loop is busy ~90 % of the time against a 10 % budget. Holding merges nothing here.
  const time = new FakeTime();
  const budget = new PushBudget(0.1, 0);
  const delays: { at: number; delay: number }[] = [];
  const d = budgeted(time, budget, () => {
    delays.push({ at: time.now, delay: time.now - d.batchFirstAt });
    time.setTimeout(() => {
      d.settled();
      time.setTimeout(() => d.poke(), 2);
    }, 20);
  });
  d.poke();
  time.advance(20_000);
  d.close();
  const held = delays.filter((x) => x.delay > 0);
  t.ok(delays.length > 800, `one push per change, back to back: ${delays.length} in 20 s`);
  t.ok(
    held.every((x) => x.delay <= PROBE_AFTERS * 5),
    `a held change waits at most ${PROBE_AFTERS} quiet periods: ${held.map((x) => x.delay).join(', ')} ms`,
  );
  t.ok(held.length >= 1 && held.length <= 6, `held ${held.length} of ${delays.length} (misses back off 1, 2, 4, 8 s)`);
  const gaps = held.slice(1).map((x, i) => x.at - held[i]!.at);
  t.ok(
    gaps.every((g, i) => g >= 1000 * 2 ** i),
    `each miss keeps holding off twice as long: gaps ${gaps.slice(0, 8).join(', ')} ms`,
  );
});
