import t from 'tap';
import { Registry } from 'prom-client';
import { createSilentLogger } from '../log';
import { ResourceCache, entryFromBytes } from '../xds';
import type { DebounceTimers } from './debouncer';
import { Pusher } from './pusher';

/** Manual time: timers fire only in advance(); immediates run in endTurn(). */
function fakeTime() {
  let now = 0;
  let seq = 0;
  const timeouts = new Map<number, { at: number; fn: () => void }>();
  const immediates = new Map<number, () => void>();
  const timers: DebounceTimers = {
    setTimeout: (fn, ms) => (timeouts.set(++seq, { at: now + ms, fn }), seq),
    clearTimeout: (h) => void timeouts.delete(h as number),
    setImmediate: (fn) => (immediates.set(++seq, fn), seq),
    clearImmediate: (h) => void immediates.delete(h as number),
  };
  const endTurn = () => {
    for (const [id, fn] of [...immediates]) {
      immediates.delete(id);
      fn();
    }
  };
  const advance = (ms: number) => {
    endTurn();
    const end = now + ms;
    for (;;) {
      const due = [...timeouts].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timeouts.delete(due[0]);
      now = due[1].at;
      due[1].fn();
      endTurn();
    }
    now = end;
  };
  return { timers, clock: { now: () => now, monotonic: () => now }, endTurn, advance };
}

function rig(mode?: 'leading' | 'quiet') {
  const time = fakeTime();
  const cache = new ResourceCache();
  let builds = 0;
  const registry = new Registry();
  const pusher = new Pusher({
    cache, logger: createSilentLogger(), clock: time.clock, registry, timers: time.timers,
    debounceAfterMs: 5, debounceMaxMs: 50, debounceMode: mode,
    build: () => {
      builds++;
      return { commits: [{ typeUrl: 'type.test/T', upserts: [entryFromBytes('type.test/T', 'r', Buffer.from([builds]), [])], removes: [] }] };
    },
  });
  return { time, cache, pusher, registry, builds: () => builds };
}

t.test('default (leading): a change on an idle daemon is built and committed in the same event-loop turn', async (t) => {
  const { time, cache, pusher, registry, builds } = rig();
  const seq0 = cache.seq;
  pusher.notify();
  pusher.notify();
  time.endTurn();
  t.equal(builds(), 1, 'one build for the turn\'s notifications');
  t.equal(cache.seq, seq0 + 1, 'committed');
  const m = await registry.getSingleMetricAsString('pilot_debounce_time');
  t.match(m, /pilot_debounce_time_bucket\{le="0.001"\} 1/, 'waited under 1 ms in the debouncer');
  pusher.close();
});

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
