import t from 'tap';
import { Debouncer, type DebounceMode } from './debouncer';
import { FakeTime } from './fake-time';

function rig(mode: DebounceMode, after = 5, max = 50) {
  const time = new FakeTime();
  const fires: { at: number; firstAt: number }[] = [];
  const d: Debouncer = new Debouncer({
    after,
    max,
    mode,
    clock: time.clock,
    timers: time,
    fire: () => fires.push({ at: time.now, firstAt: d.batchFirstAt }),
  });
  return { time, fires, d };
}

t.test('quiet (istiod): one event is pushed after the quiet period, not before', async (t) => {
  const { time, fires, d } = rig('quiet');
  d.poke();
  time.endTurn();
  time.advance(4.9);
  t.equal(fires.length, 0, 'nothing before the quiet period ends');
  time.advance(0.1);
  t.same(fires, [{ at: 5, firstAt: 0 }]);
  d.close();
});

t.test('quiet (istiod): a chain of events closer than the quiet period waits until the cap', async (t) => {
  const { time, fires, d } = rig('quiet');
  for (let i = 0; i < 30; i++) {
    d.poke();
    time.advance(4);
  }
  t.same(
    fires.map((f) => f.at),
    [50, 102],
    "capped at max from the first event, then again from the next batch's first",
  );
  t.equal(fires[1]!.firstAt, 52);
  d.close();
});

t.test(
  "leading: an event on an idle debouncer is pushed at the end of its turn, together with that turn's other events",
  async (t) => {
    const { time, fires, d } = rig('leading');
    d.poke();
    d.poke();
    d.poke();
    t.equal(fires.length, 0, 'not synchronously inside poke()');
    time.endTurn();
    t.same(fires, [{ at: 0, firstAt: 0 }], 'one push, no quiet period');
    time.advance(100);
    t.equal(fires.length, 1, 'no second push for the same batch');
    t.equal(time.pendingTimers, 0);
    d.close();
  },
);

t.test('leading: events right after a push coalesce like istiod (quiet period, then the cap)', async (t) => {
  const { time, fires, d } = rig('leading');
  d.poke();
  time.endTurn(); // leading push at 0
  time.advance(2);
  d.poke(); // 2 ms after a push: churn, not idle
  time.endTurn();
  t.equal(fires.length, 1, 'not pushed at once');
  time.advance(5);
  t.same(
    fires.map((f) => f.at),
    [0, 7],
    'quiet period measured from the last event',
  );
  // Sustained churn faster than the quiet period: one push per cap, as istiod.
  for (let i = 0; i < 40; i++) {
    time.advance(3);
    d.poke();
  }
  time.advance(10);
  t.same(
    fires.map((f) => f.at),
    [0, 7, 60, 111, 132],
    'capped at max (50 ms) under continuous churn; the tail after the quiet period',
  );
  d.close();
});

t.test('leading: after a quiet gap the next event is leading again', async (t) => {
  const { time, fires, d } = rig('leading');
  d.poke();
  time.endTurn();
  time.advance(5);
  d.poke(); // exactly one quiet period after the push returned
  time.endTurn();
  t.same(
    fires.map((f) => f.at),
    [0, 5],
  );
  d.close();
});

t.test('close() cancels a pending push in both modes', async (t) => {
  for (const mode of ['leading', 'quiet'] as const) {
    const { time, fires, d } = rig(mode);
    d.poke();
    d.close();
    time.advance(100);
    t.equal(fires.length, 0, mode);
    t.equal(time.pendingTimers, 0, `${mode}: no timer left`);
    d.poke();
    time.advance(100);
    t.equal(fires.length, 0, `${mode}: pokes after close are ignored`);
  }
});

t.test(
  'a push that throws still counts as a push (the next event is not leading within the quiet period)',
  async (t) => {
    const time = new FakeTime();
    let calls = 0;
    const d = new Debouncer({
      after: 5,
      max: 50,
      mode: 'leading',
      clock: time.clock,
      timers: time,
      fire: () => {
        calls++;
        if (calls === 1) throw new Error('build failed');
      },
    });
    d.poke();
    t.throws(() => time.endTurn(), /build failed/);
    time.advance(1);
    d.poke();
    time.endTurn();
    t.equal(calls, 1, 'within the quiet period of the failed push: waits');
    time.advance(5);
    t.equal(calls, 2);
    d.close();
  },
);
