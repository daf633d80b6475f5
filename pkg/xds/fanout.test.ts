import t from 'tap';
import { ResourceCache, entryFromBytes } from './cache';
import { FanOut, SharedResponses } from './fanout';
import { joinParts, loadWire, nonceField } from '../wire';

const T = 'type.googleapis.com/istio.workload.Address';

function cacheWith(names: string[]): ResourceCache {
  const cache = new ResourceCache();
  cache.commit([{ typeUrl: T, upserts: names.map((n) => entryFromBytes(T, n, Buffer.from(`body-${n}`))) }]);
  return cache;
}

t.test('SharedResponses keeps small bodies until the next commit, large ones only during a pass', (t) => {
  const cache = cacheWith(['ns/a', 'ns/b']);
  const shared = new SharedResponses(cache);
  // Outside a pass (streams flushing as their ACKs arrive): a small body is built once and shared.
  const lone = shared.get(T, 0)!;
  t.equal(lone.empty, false);
  const joined = joinParts(lone.body);
  t.equal(lone.body.length, 1, 'a small body is one buffer (fan-out writes it without a copy)');
  t.ok(
    joined.includes(Buffer.from('body-ns/a')) && joined.includes(Buffer.from('body-ns/b')),
    'the body carries both resources',
  );
  t.equal(shared.get(T, 0), lone, 'the next stream at the same cursor shares it');
  shared.hold();
  shared.release();
  t.equal(shared.get(T, 0), lone, 'the end of a pass keeps small bodies');
  // A large body (a stream catching up on the whole table).
  const big = new ResourceCache();
  big.commit([
    {
      typeUrl: T,
      upserts: Array.from({ length: 300 }, (_, i) => entryFromBytes(T, `ns/w-${i}`, Buffer.alloc(400, 1))),
    },
  ]);
  const bigShared = new SharedResponses(big);
  const first = bigShared.get(T, 0)!;
  t.ok(first.body.length > 1, 'large: head + frames');
  t.equal(bigShared.size, 0, 'a large body outside a pass is not kept');
  t.not(bigShared.get(T, 0), first, 'so the next lookup builds it again');
  bigShared.hold();
  const inPass = bigShared.get(T, 0)!;
  t.equal(bigShared.get(T, 0), inPass, 'within a pass the large body is shared');
  t.equal(bigShared.size, 1);
  bigShared.release();
  t.equal(bigShared.size, 0, 'and dropped when the pass ends');
  t.end();
});

t.test('SharedResponses drops its memo when a commit lands mid-pass', (t) => {
  const cache = cacheWith(['ns/a']);
  const shared = new SharedResponses(cache);
  shared.hold();
  const before = shared.get(T, 0)!;
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, 'ns/c', Buffer.from('body-ns/c'))] }]);
  const after = shared.get(T, 0)!;
  t.not(after, before);
  t.ok(joinParts(after.body).includes(Buffer.from('body-ns/c')), 'the newer body includes the new commit');
  t.equal(shared.size, 1, 'only the current sequence is kept');
  shared.release();
  t.end();
});

t.test(
  "a large shared body is the head plus the cache's own frames (no joined copy), and decodes as one response",
  async (t) => {
    const names = Array.from({ length: 300 }, (_, i) => `ns/w-${i}`);
    const cache = new ResourceCache();
    cache.commit([{ typeUrl: T, upserts: names.map((n) => entryFromBytes(T, n, Buffer.alloc(400, n.length))) }]);
    const r = new SharedResponses(cache).get(T, 0)!;
    t.equal(r.body.length, 1 + names.length, 'head, then one part per resource');
    t.ok(
      names.every((n, i) => r.body[i + 1] === cache.get(T, n)),
      'the parts are the cache entries themselves (each writes its frame where the transport copies it)',
    );
    const wire = loadWire();
    const resp = wire.DeltaDiscoveryResponse.decode(joinParts([...r.body, nonceField('n-7')])) as unknown as {
      typeUrl: string;
      nonce: string;
      systemVersionInfo: string;
      resources: { name: string }[];
    };
    t.equal(resp.typeUrl, T);
    t.equal(resp.nonce, 'n-7');
    t.equal(resp.systemVersionInfo, String(cache.seq));
    t.same(resp.resources.map((x) => x.name).sort(), [...names].sort());
  },
);

t.test('FanOut brackets each pass with begin/end, across batches and after close', async (t) => {
  const events: string[] = [];
  const streams = Array.from({ length: 5 }, (_, i) => ({ subscribed: true, flush: () => events.push(`s${i}`) }));
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const fan = new FanOut(() => streams, 2, {
    begin: () => events.push('begin'),
    end: () => {
      events.push('end');
      done();
    },
  });
  fan.trigger();
  await ended;
  t.same(
    events,
    ['begin', 's0', 's1', 's2', 's3', 's4', 'end'],
    'one begin before the first batch, one end after the last',
  );
  // A pass cut short by close() still ends (the memo must not outlive a closed server).
  events.length = 0;
  const ended2 = new Promise<void>((r) => (done = r));
  fan.trigger();
  fan.close();
  await ended2;
  t.same(events, ['end'], 'closed before the first batch: end only, no flush');
});

t.test('FanOut: streams that never named a type take no place in a batch', async (t) => {
  const events: string[] = [];
  const idle = Array.from({ length: 1000 }, () => ({ subscribed: false, flush: () => events.push('idle') }));
  const live = { subscribed: true, flush: () => events.push('live') };
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const fan = new FanOut(() => [...idle, live], 32, {
    // A marker one turn after the pass begins: a stream flushed after it waited behind another batch.
    begin: () => setImmediate(() => events.push('next turn')),
    end: () => done(),
  });
  fan.trigger();
  await ended;
  await new Promise<void>((r) => setImmediate(r));
  t.same(events, ['live', 'next turn'], 'the subscribed stream alone, in the first batch, not 32 batches later');
});
