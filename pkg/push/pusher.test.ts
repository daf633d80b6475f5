import t from 'tap';
import { Registry } from 'prom-client';
import { createSilentLogger } from '../log';
import { ResourceCache, entryFromBytes } from '../xds';
import { FakeTime } from './fake-time';
import { Pusher } from './pusher';

/** A pusher whose builds each take `cost` ms of fake time and change the resource (or, with changes false, not). */
function rig(o: { mode?: 'leading' | 'quiet'; budgetShare?: number; cost?: number; changes?: boolean } = {}) {
  const time = new FakeTime();
  const cache = new ResourceCache();
  let builds = 0;
  const registry = new Registry();
  const pusher = new Pusher({
    cache,
    logger: createSilentLogger(),
    clock: time.clock,
    registry,
    timers: time,
    debounceAfterMs: 5,
    debounceMaxMs: 50,
    debounceMode: o.mode,
    budgetShare: o.budgetShare,
    build: () => {
      builds++;
      time.now += o.cost ?? 0;
      return {
        commits: [
          {
            typeUrl: 'type.test/T',
            upserts: [entryFromBytes('type.test/T', 'r', Buffer.from([o.changes === false ? 1 : builds]), [])],
            removes: [],
          },
        ],
      };
    },
  });
  return { time, cache, pusher, registry, builds: () => builds };
}

t.test(
  'default (leading): a change on an idle daemon is built and committed in the same event-loop turn',
  async (t) => {
    const { time, cache, pusher, registry, builds } = rig();
    const seq0 = cache.seq;
    pusher.notify();
    pusher.notify();
    time.endTurn();
    t.equal(builds(), 1, "one build for the turn's notifications");
    t.equal(cache.seq, seq0 + 1, 'committed');
    const m = await registry.getSingleMetricAsString('pilot_debounce_time');
    t.match(m, /pilot_debounce_time_bucket\{le="0.001"\} 1/, 'waited under 1 ms in the debouncer');
    pusher.close();
  },
);

t.test('quiet (istiod): the same change waits for the quiet period', async (t) => {
  const { time, pusher, builds } = rig({ mode: 'quiet' });
  pusher.notify();
  time.endTurn();
  t.equal(builds(), 0);
  time.advance(5);
  t.equal(builds(), 1);
  pusher.close();
});

t.test('close() drops a pending push', async (t) => {
  const { time, pusher, builds } = rig();
  pusher.notify();
  pusher.close();
  time.advance(100);
  t.equal(builds(), 0);
});

t.test('the push budget is charged until settled(); paced pushes are counted', async (t) => {
  const { time, pusher, registry, builds } = rig({ budgetShare: 0.2, cost: 150 });
  for (let i = 0; i < 3; i++) {
    pusher.notify();
    time.endTurn();
    time.advance(6);
    pusher.settled(); // the daemon calls this when the fan-out pass ends
  }
  // 200 − 156 = 44 ms left after the first push; 44 + 0.2 × 156 − 156 < 0 after the second.
  t.equal(builds(), 2, 'the third change waits: two pushes of ~156 ms overspent the 200 ms window');
  // No further change arrives while it is held, so the probe releases it 15 ms after it came (debouncer.ts
  // PROBE_AFTERS), before it is max old.
  time.advance(50);
  t.equal(builds(), 3, 'until it is max old');
  t.match(await registry.getSingleMetricAsString('ambientd_push_paced_total'), /ambientd_push_paced_total 1\b/);
  pusher.close();
});

t.test('with a budget, a commit that changes nothing settles at once (no fan-out will report it)', async (t) => {
  const { time, cache, pusher, builds } = rig({ budgetShare: 0.2, cost: 1, changes: false });
  pusher.notify();
  time.endTurn();
  pusher.settled(); // the first commit changed the cache: its fan-out ends
  const seq = cache.seq;
  time.advance(6);
  pusher.notify(); // the same bytes again: the cache drops them and tells no stream
  time.endTurn();
  t.equal(builds(), 2);
  t.equal(cache.seq, seq, 'nothing committed');
  time.advance(6);
  pusher.notify();
  time.endTurn();
  t.equal(builds(), 3, 'pushed at the end of its turn, not held for max by a push nobody will settle');
  pusher.close();
});

t.test('defer(): the drain runs once, before the build, and what it changes is in that push', async (t) => {
  const { time, pusher, builds } = rig({ mode: 'quiet' });
  const seen: string[] = [];
  const drain = (): void => {
    seen.push(`drain before build ${builds() + 1}`);
    pusher.notify(); // the registry's change notice for what the drain applied
  };
  pusher.defer(drain);
  pusher.defer(drain); // the same source again before the push: one drain
  time.endTurn();
  t.equal(builds(), 0, 'a deferred change is a change for the debounce: the quiet period first');
  time.advance(5);
  t.equal(builds(), 1);
  t.same(seen, ['drain before build 1']);
  time.advance(50);
  t.equal(builds(), 1, "the drain's own notice asked for no second push");
  pusher.defer(drain);
  time.advance(5);
  t.same(seen, ['drain before build 1', 'drain before build 2'], 'a later deferral drains at the next push');
  pusher.close();
  let after = 0;
  pusher.defer(() => after++);
  t.equal(after, 1, 'once closed, a deferral drains at once');
});

t.test('defer(): a drain that throws is logged; the other drains and the push go on', async (t) => {
  const { time, pusher, builds } = rig();
  let ran = 0;
  pusher.defer(() => {
    throw new Error('unreadable');
  });
  pusher.defer(() => ran++);
  time.endTurn();
  t.equal(ran, 1);
  t.equal(builds(), 1);
  pusher.close();
});
