import t from 'tap';
import { Registry } from 'prom-client';
import { createSilentLogger } from '../log';
import { ResourceCache, entryFromBytes } from '../xds';
import { FakeTime } from './fake-time';
import { Pusher } from './pusher';

function rig(mode?: 'leading' | 'quiet') {
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
    debounceMode: mode,
    build: () => {
      builds++;
      return {
        commits: [
          {
            typeUrl: 'type.test/T',
            upserts: [entryFromBytes('type.test/T', 'r', Buffer.from([builds]), [])],
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
  const { time, pusher, builds } = rig('quiet');
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
