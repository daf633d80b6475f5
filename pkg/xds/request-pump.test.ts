import t from 'tap';
import { loadWire, scanDeltaRequest, TYPE_ADDRESS, type DeltaRequest } from '../wire';
import { waitFor } from '../lifecycle';
import { RequestPump } from './request-pump';
import { Subscription } from './subscription';
import { OwedNames } from './owed-names';

const wire = loadWire();
const REQ = wire.DeltaDiscoveryRequest;
const enc = (o: Record<string, unknown>): Buffer => Buffer.from(REQ.encode(REQ.fromObject(o)).finish());
const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A pump over a recording stream: every applied request (or slice), pause/resume calls, the drain. */
type RigOptions = {
  namesPerTurn?: number;
  requestsPerTurn?: number;
  bytesPerTurn?: number;
  known?: boolean;
  namesPerSecond?: number;
  bytesPerSecond?: number;
  /** Rates that held the stream back, in order; and a log shared by several rigs (`tag` per applied request). */
  throttles?: string[];
  order?: string[];
  tag?: string;
  defer?: () => boolean;
  maxDeferMs?: number;
  /** Loop time per second, and how far each apply moves the clock (the work's measured cost). */
  workMsPerSecond?: number;
  applyMs?: number;
};
/** The rates' clock: tests move it by hand. */
let clock = 0;

function rig(o: RigOptions = {}) {
  const applied: DeltaRequest[] = [];
  const reads: string[] = [];
  let drained = 0;
  let closed = false;
  const pump = new RequestPump({
    decode: (b) => scanDeltaRequest(REQ, b),
    apply: (r) => {
      applied.push(r);
      clock += o.applyMs ?? 0;
      o.order?.push(o.tag ?? '');
    },
    sliceable: () => o.known ?? true,
    closed: () => closed,
    read: { pauseReading: () => reads.push('pause'), resumeReading: () => reads.push('resume') },
    namesPerTurn: o.namesPerTurn,
    requestsPerTurn: o.requestsPerTurn,
    bytesPerTurn: o.bytesPerTurn ?? 1 << 30,
    namesPerSecond: o.namesPerSecond ?? 1e9,
    bytesPerSecond: o.bytesPerSecond ?? 1e12,
    now: () => clock,
    onThrottle: (rate) => o.throttles?.push(rate),
    defer: o.defer,
    workMsPerSecond: o.workMsPerSecond,
    maxDeferMs: o.maxDeferMs,
    onDrained: () => drained++,
  });
  const count = (r: DeltaRequest): number => r.subscribe.length + r.unsubscribe.length;
  return {
    pump,
    applied,
    reads,
    count,
    drained: () => drained,
    close: () => (closed = true),
    idle: () => waitFor(() => pump.idle, { timeoutMs: 10_000, what: 'pump drained', intervalMs: 1 }),
  };
}

t.test('a request over the turn budget is applied in slices; the subscription is as if applied whole', async (t) => {
  const sub = names('Kubernetes//Pod/default/w-', 10_000);
  const unsub = ['*', ...names('Kubernetes//Pod/default/w-', 2_500)];
  const msg = enc({
    typeUrl: TYPE_ADDRESS,
    responseNonce: 'n-7',
    resourceNamesSubscribe: ['*', ...sub],
    resourceNamesUnsubscribe: unsub,
    node: { id: 'z' },
  });
  const r = rig({ namesPerTurn: 1000 });
  r.pump.push(msg);
  t.equal(r.applied.length, 1, 'one slice in the turn the message arrived');
  t.equal(r.count(r.applied[0]!), 1000, 'of exactly the budget');
  t.same(r.reads, ['pause'], 'reading paused while the rest waits');
  await r.idle();
  t.same(r.reads, ['pause', 'resume'], 'resumed once everything is applied');
  t.equal(r.applied.length, Math.ceil((sub.length + 1 + unsub.length) / 1000), 'every name applied once, in slices');
  t.ok(
    r.applied.every((s) => r.count(s) <= 1000),
    'no slice over the budget',
  );
  const [first, ...rest] = r.applied;
  t.equal(first!.responseNonce, 'n-7', 'the first slice carries the nonce');
  t.equal(first!.node?.id, 'z', 'and the node');
  const bare = rest.every((s) => s.responseNonce === '' && !s.node && s.typeUrl === TYPE_ADDRESS);
  t.ok(bare, 'later slices: type and names only');
  const unsubAt = r.applied.findIndex((s) => s.unsubscribe.length > 0);
  const ordered = r.applied.slice(unsubAt + 1).every((s) => s.subscribe.length === 0);
  t.ok(ordered, 'subscribe slices before unsubscribe slices (rule 7)');

  const whole = new Subscription();
  const wholeOwed = { force: new OwedNames(), unsubNotify: new Set<string>() };
  whole.apply(['*', ...sub], unsub, wholeOwed);
  const sliced = new Subscription();
  const slicedOwed = { force: new OwedNames(), unsubNotify: new Set<string>() };
  for (const s of r.applied) sliced.apply(s.subscribe, s.unsubscribe, slicedOwed);
  t.same([...sliced.explicitNames], [...whole.explicitNames], 'same explicit names');
  t.equal(sliced.wildcard, whole.wildcard, 'same wildcard state ("*" in both lists: not wildcard)');
  t.equal(slicedOwed.force.size, wholeOwed.force.size, 'same names owed an answer');
  t.same([...slicedOwed.unsubNotify], [...wholeOwed.unsubNotify], 'same unsubscribe notices');
});

t.test('many small requests: at most requestsPerTurn per turn, in arrival order', async (t) => {
  const r = rig({ requestsPerTurn: 8 });
  for (let i = 0; i < 50; i++) r.pump.push(enc({ typeUrl: TYPE_ADDRESS, responseNonce: `n-${i}` }));
  t.equal(r.applied.length, 8, 'eight applied in the first turn');
  t.equal(r.pump.queued, 42, 'the rest wait');
  await r.idle();
  t.same(
    r.applied.map((q) => q.responseNonce),
    names('n-', 50),
    'all applied, in order',
  );
  t.same(r.reads, ['pause', 'resume']);
});

t.test('large messages (a NACK flood): bytes per turn bound them; one over the budget still applies', async (t) => {
  const r = rig({ bytesPerTurn: 16 * 1024 });
  const nack = enc({ typeUrl: TYPE_ADDRESS, responseNonce: 'x', errorDetail: { code: 0, message: 'x'.repeat(4096) } });
  for (let i = 0; i < 40; i++) r.pump.push(nack);
  t.equal(r.applied.length, Math.ceil((16 * 1024) / nack.length), 'as many as fit 16 KiB in the first turn');
  t.same(r.reads, ['pause']);
  await r.idle();
  t.equal(r.applied.length, 40, 'all applied over later turns');
  const big = rig({ bytesPerTurn: 1024 });
  big.pump.push(nack);
  t.equal(big.applied.length, 1, 'a 4 KiB message under a 1 KiB budget is applied');
});

t.test('sustained rates: past one second of names, the rest waits for the clock', async (t) => {
  const r = rig({ namesPerTurn: 1000, namesPerSecond: 2000 });
  r.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('a', 5000) }));
  const applied = (): number => r.applied.reduce((n, s) => n + s.subscribe.length, 0);
  await waitFor(() => applied() === 2000, { timeoutMs: 10_000, what: 'the burst applied', intervalMs: 1 });
  t.equal(r.reads[0], 'pause', 'reading paused while throttled');
  clock += 1000; // one second: 2,000 more names
  await waitFor(() => applied() === 4000, { timeoutMs: 10_000, what: 'one second later, 2,000 more', intervalMs: 5 });
  t.equal(applied(), 4000, 'no more than the rate allows');
  clock += 1000;
  await r.idle();
  t.equal(applied(), 5000, 'everything, in the end');
  t.same(r.reads, ['pause', 'resume']);
});

t.test('half-close: drained only after the last slice; a closed stream drops what waits', async (t) => {
  const r = rig({ namesPerTurn: 100 });
  r.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('a', 1000) }));
  r.pump.end();
  t.equal(r.drained(), 0, 'not drained while slices wait');
  await r.idle();
  t.equal(r.drained(), 1, 'drained once');
  t.equal(
    r.applied.reduce((n, s) => n + s.subscribe.length, 0),
    1000,
    'every name applied first',
  );

  const c = rig({ namesPerTurn: 100 });
  c.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('a', 1000) }));
  c.close();
  await c.idle();
  t.equal(c.applied.length, 1, 'nothing applied after the stream ended');
});

t.test('an unknown type is not sliced (each slice would be answered)', async (t) => {
  const r = rig({ namesPerTurn: 10, known: false });
  r.pump.push(enc({ typeUrl: 'type.googleapis.com/other', resourceNamesSubscribe: names('a', 100) }));
  t.equal(r.applied.length, 1);
  t.equal(r.applied[0]!.subscribe.length, 100);
});

t.test('OwedNames hands out the recorded lists oldest first, a slice at a time, skipping "*"', async (t) => {
  const o = new OwedNames();
  o.push(['a', '*', 'b']);
  o.push([]);
  o.push(['c', 'd', 'e']);
  t.equal(o.size, 6);
  const got: string[] = [];
  o.take(4, (n) => got.push(n));
  t.same(got, ['a', 'b', 'c'], 'four entries taken, "*" not handed on');
  t.equal(o.size, 2);
  o.take(10, (n) => got.push(n));
  t.same(got, ['a', 'b', 'c', 'd', 'e']);
  t.equal(o.size, 0);
});

t.test('a stream over its sustained rate is held back once per wait, and each wait is reported', async (t) => {
  const throttles: string[] = [];
  const r = rig({ namesPerTurn: 1000, namesPerSecond: 2000, throttles });
  r.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('a', 3000) }));
  const applied = (): number => r.applied.reduce((n, s) => n + s.subscribe.length, 0);
  const heldBack = (): boolean => applied() === 2000 && throttles.length > 0;
  await waitFor(heldBack, { timeoutMs: 10_000, what: 'held back', intervalMs: 1 });
  r.pump.push(enc({ typeUrl: TYPE_ADDRESS, responseNonce: 'ack' })); // arrives while waiting: no second report
  t.same(throttles, ['names'], 'one report for the wait, by the rate that caused it');
  clock += 1000;
  await r.idle();
  t.equal(applied(), 3000, 'the rest once the clock allows');
  t.equal(r.applied.at(-1)!.responseNonce, 'ack', 'the request that arrived meanwhile, after them');

  const bytes: string[] = [];
  const b = rig({ bytesPerSecond: 1000, throttles: bytes });
  for (let i = 0; i < 3; i++) b.pump.push(enc({ typeUrl: TYPE_ADDRESS, responseNonce: 'y'.repeat(600) }));
  await waitFor(() => bytes.length > 0, { timeoutMs: 10_000, what: 'bytes held back', intervalMs: 1 });
  t.same(bytes, ['bytes'], 'a byte flood is reported as the bytes rate');
  t.equal(b.applied.length, 2, 'two 600-byte requests fit one second of 1,000 bytes (the second overdraws)');
  clock += 10_000;
  await b.idle();
});

t.test('a small request on another stream is not delayed behind a flood being applied or held back', async (t) => {
  const order: string[] = [];
  const flood = rig({ namesPerTurn: 500, namesPerSecond: 5000, order, tag: 'flood' });
  const small = rig({ order, tag: 'small' });
  flood.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('f', 20_000) }));
  t.same(order, ['flood'], 'the flood gets one slice in the turn its message arrived');
  small.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: ['Kubernetes//Pod/default/w-1'] }));
  t.same(order, ['flood', 'small'], "the small request is applied as it arrives, before the flood's next slice");
  // The flood spends its second of names (10 slices), then waits for the clock.
  await waitFor(() => flood.applied.length === 10 && !flood.pump.idle, {
    timeoutMs: 10_000,
    what: 'flood held back by its rate',
    intervalMs: 1,
  });
  small.pump.push(enc({ typeUrl: TYPE_ADDRESS, responseNonce: 'ack-1' }));
  t.equal(small.applied.length, 2, 'a request on another stream while the flood waits: applied at once');
  t.equal(flood.applied.length, 10, 'and the flood did not move');
  flood.close();
  await flood.idle();
});

t.test("during a push a large request's slices wait; small requests and the deadline do not", async (t) => {
  let pushing = true;
  let turns = 0;
  const r = rig({ namesPerTurn: 100, defer: () => (turns++, pushing), maxDeferMs: 1000 });
  r.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('f', 1000) }));
  t.equal(r.applied.length, 1, 'the slice of the turn the request arrived');
  await waitFor(() => turns >= 5, { timeoutMs: 10_000, what: 'five turns asking', intervalMs: 1 });
  t.equal(r.applied.length, 1, 'no further slice while the push is under way');
  const other = rig({ defer: () => true });
  other.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: ['a'] }));
  t.equal(other.applied.length, 1, 'a request that is not sliced is applied during a push');
  pushing = false;
  await r.idle();
  t.equal(
    r.applied.reduce((n, s) => n + s.subscribe.length, 0),
    1000,
    'the rest once the push is done',
  );
  t.same(r.reads, ['pause', 'resume']);

  let asked = 0;
  const late = rig({ namesPerTurn: 100, defer: () => (asked++, true), maxDeferMs: 50 });
  late.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: names('g', 300) }));
  await waitFor(() => asked >= 2, { timeoutMs: 10_000, what: 'slices waiting', intervalMs: 1 });
  t.equal(late.applied.length, 1, 'waiting');
  // A push that never ends: each time maxDeferMs has passed, one slice moves.
  clock += 50;
  await waitFor(() => late.applied.length === 2, { timeoutMs: 10_000, what: 'second slice', intervalMs: 1 });
  // The third slice's wait starts at the pump's next defer() call, which may come on a later turn than the second
  // slice (after its turn's name budget): advancing the clock before it would start that wait at the new time.
  const askedAfterSecond = asked;
  await waitFor(() => asked > askedAfterSecond, { timeoutMs: 10_000, what: 'third slice waiting', intervalMs: 1 });
  clock += 50;
  await late.idle();
  t.equal(late.applied.length, 3, 'every slice applied under constant pushing');
});

t.test('loop time: a stream whose requests take long to apply waits for its work budget', async (t) => {
  const throttles: string[] = [];
  // Small requests that each take 10 ms (as a costly shape would): 50 ms a second allows five.
  const r = rig({ workMsPerSecond: 50, applyMs: 10, throttles });
  for (let i = 0; i < 8; i++) r.pump.push(enc({ typeUrl: TYPE_ADDRESS, resourceNamesSubscribe: [`n-${i}`] }));
  await waitFor(() => throttles.length > 0, { timeoutMs: 10_000, what: 'held back by loop time', intervalMs: 1 });
  t.same(throttles, ['work'], 'reported as the work rate');
  // Five from the burst; their 50 ms of clock refilled 2.5 ms, enough to start a sixth (a bucket may go negative).
  t.equal(r.applied.length, 6, 'one second of budget: five 10 ms requests and one on what refilled');
  const other = rig({ workMsPerSecond: 50 });
  other.pump.push(enc({ typeUrl: TYPE_ADDRESS, responseNonce: 'ack' }));
  t.equal(other.applied.length, 1, "another stream's request is applied at once");
  clock += 1000;
  await r.idle();
  t.equal(r.applied.length, 8, 'the rest once the clock allows');
});

t.test('OwedNames keeps many and long names across its chunks, oldest first', async (t) => {
  const o = new OwedNames();
  const long = 'L'.repeat(70_000);
  const list = [...names('Kubernetes//Pod/default/w-', 20_000), long, 'ü/名', '*', 'end'];
  o.push(list);
  t.equal(o.size, list.length);
  const got: string[] = [];
  while (o.size > 0) o.take(512, (n) => got.push(n));
  t.same(
    got,
    list.filter((n) => n !== '*'),
    'every name back, in order, "*" not handed on',
  );
  o.push(['again']);
  o.take(10, (n) => got.push(n));
  t.equal(got[got.length - 1], 'again', 'usable after draining');
});
