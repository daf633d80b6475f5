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
