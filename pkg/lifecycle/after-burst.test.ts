import t from 'tap';
import { AfterBurst } from './after-burst';

/** A hand-driven clock and timer queue: time moves only when the test says so. */
function fakeTime() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  return {
    timers: {
      setTimeout: (fn: () => void, ms: number) => (pending.set(++seq, { at: now + ms, fn }), seq),
      clearTimeout: (h: unknown) => void pending.delete(h as number),
    },
    pending: () => pending.size,
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...pending].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
  };
}

t.test('runs once after a burst, once a quiet window sees fewer units than quietBelow', (t) => {
  const ft = fakeTime();
  let runs = 0;
  const b = new AfterBurst({ timers: ft.timers, threshold: 100, quietBelow: 20, quietMs: 1000, run: () => runs++ });
  b.note(5);
  t.equal(ft.pending(), 0, 'below the threshold nothing is scheduled');
  for (let i = 0; i < 20; i++) {
    b.note(10); // ~33 units a second: the burst goes on
    ft.advance(300);
  }
  t.equal(runs, 0, 'not while the rate stays at quietBelow or more');
  for (let i = 0; i < 10; i++) {
    b.note(1); // steady-state trickle, 5 a second: below the rate
    ft.advance(200);
  }
  t.equal(runs, 1, 'once a whole window stays below it, despite the trickle');
  ft.advance(10_000);
  t.equal(runs, 1, 'and only once');
  for (let i = 0; i < 50; i++) b.note(1);
  ft.advance(10_000);
  t.equal(runs, 1, 'small batches alone below the threshold start nothing');
  b.note(60);
  ft.advance(999);
  t.equal(runs, 1, 'a new burst (the count restarted after the run) waits its quiet period');
  ft.advance(1);
  t.equal(runs, 2);
  t.end();
});

t.test('close() cancels a scheduled run', (t) => {
  const ft = fakeTime();
  let runs = 0;
  const b = new AfterBurst({ timers: ft.timers, threshold: 10, quietBelow: 10, quietMs: 1000, run: () => runs++ });
  b.note(10);
  t.equal(ft.pending(), 1);
  b.close();
  t.equal(ft.pending(), 0, 'timer cleared');
  b.note(10);
  ft.advance(5000);
  t.equal(runs, 0);
  t.end();
});

t.test('a quiet window waits for the tail to settle, at most maxDeferrals windows', (t) => {
  const ft = fakeTime();
  let runs = 0;
  let settled = false;
  const b = new AfterBurst({
    timers: ft.timers,
    threshold: 100,
    quietBelow: 20,
    quietMs: 1000,
    run: () => runs++,
    settled: () => settled,
    maxDeferrals: 3,
  });
  b.note(200);
  ft.advance(2500);
  t.equal(runs, 0, 'quiet, but the tail is still being written: no run');
  settled = true;
  ft.advance(1000);
  t.equal(runs, 1, 'runs at the first quiet window that finds it settled');
  // Never settles: runs anyway after maxDeferrals extra windows.
  settled = false;
  b.note(200);
  ft.advance(3500);
  t.equal(runs, 1, 'still deferring after 3 windows');
  ft.advance(1000);
  t.equal(runs, 2, 'runs once maxDeferrals is used up');
  t.end();
});
