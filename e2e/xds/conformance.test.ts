import t from 'tap';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { startXdsFixture, type XdsFixture } from '../harness/xds-fixture';
import type { ZtunnelClient } from '../harness/ztunnel-client';

// One test per delta-xDS rule (docs/design/delta-xds-rules.md) or known bug class. Absence
// of a response is shown without sleeping: a later marker change must arrive
// as the very next response, proving nothing was sent in between.

const A = TYPE_ADDRESS;
const Z = TYPE_AUTHORIZATION;

async function fixture(t: { teardown(fn: () => unknown): void }, opts = {}): Promise<XdsFixture> {
  const f = await startXdsFixture(opts);
  t.teardown(() => f.close());
  return f;
}

async function synced(c: ZtunnelClient): Promise<void> {
  await c.until(
    () => c.received.some((r) => r.typeUrl === A) && c.received.some((r) => r.typeUrl === Z),
    'initial responses',
  );
}

t.test('empty initial wildcard requests are answered for both types, Address first', async (t) => {
  const f = await fixture(t);
  const c = f.client();
  c.connect();
  await synced(c);
  t.equal(c.received[0]!.typeUrl, A, 'Address answered first');
  t.equal(c.received[1]!.typeUrl, Z, 'then Authorization');
  t.same(c.received[0]!.names, [], 'empty is fine');
  await c.until(() => f.xds.allInSync(), 'ACKs recorded');
});

t.test('initial wildcard push carries full state; Address before Authorization', async (t) => {
  const f = await fixture(t);
  f.cache.commit([
    { typeUrl: Z, upserts: [f.policy('default', 'p1')] },
    {
      typeUrl: A,
      upserts: [
        f.workload('c//Pod/default/a', '10.0.0.1'),
        f.service('default', 'svc.default.svc.cluster.local', '10.96.0.1'),
      ],
    },
  ]);
  const c = f.client();
  c.connect();
  await synced(c);
  t.same(c.received[0]!.names.sort(), ['c//Pod/default/a', 'default/svc.default.svc.cluster.local']);
  t.same(c.received[1]!.names, ['default/p1']);
  t.equal(
    (c.held(A).get('c//Pod/default/a')!.value.workload as { uid: string }).uid,
    'c//Pod/default/a',
    'resource named by uid',
  );
});

t.test('a change is pushed as a delta; a deletion as removed_resources; pure ACKs get no response', async (t) => {
  const f = await fixture(t);
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/1', '10.0.0.1'), f.workload('u/2', '10.0.0.2')] }]);
  const c = f.client();
  c.connect();
  await synced(c);
  const n = c.received.length;
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/1', '10.0.0.11')] }]);
  await c.until(() => c.received.length > n, 'delta');
  t.same(c.received[n]!.names, ['u/1'], 'only the changed resource');
  f.cache.commit([{ typeUrl: A, removes: ['u/2'] }]);
  await c.until(() => c.received.length > n + 1, 'removal');
  t.same(c.received[n + 1]!.removed, ['u/2']);
  t.same(c.received[n + 1]!.names, []);
  t.equal(c.received.length, n + 2, 'ACKs in between produced nothing');
  t.notOk(c.held(A).has('u/2'));
});

t.test('nonces are unique per stream and no name appears twice in a response', async (t) => {
  const f = await fixture(t);
  const c = f.client();
  c.connect();
  await synced(c);
  for (let i = 0; i < 20; i++) f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/x', `10.0.1.${i}`)] }]);
  await c.until(
    () =>
      c.held(A).get('u/x') && (c.held(A).get('u/x')!.value.workload as { addresses: Buffer[] }).addresses[0]![3] === 19,
    'last version',
  );
  const nonces = c.received.map((r) => r.nonce);
  t.equal(new Set(nonces).size, nonces.length, 'unique nonces');
  for (const r of c.received) t.equal(new Set(r.names).size, r.names.length, 'no duplicates');
});

t.test('reconnect with initial_resource_versions: unchanged skipped, changed resent, deleted removed', async (t) => {
  const f = await fixture(t);
  f.cache.commit([
    {
      typeUrl: A,
      upserts: [f.workload('u/keep', '10.0.0.1'), f.workload('u/change', '10.0.0.2'), f.workload('u/gone', '10.0.0.3')],
    },
  ]);
  const c = f.client();
  c.connect();
  await synced(c);
  c.disconnect();
  await c.until(() => f.xds.streamCount === 0, 'stream closed');
  f.cache.commit([
    {
      typeUrl: A,
      upserts: [f.workload('u/change', '10.0.0.22'), f.workload('u/new', '10.0.0.4')],
      removes: ['u/gone'],
    },
  ]);
  const before = c.received.length;
  c.connect();
  await c.until(() => c.received.filter((_r, i) => i >= before).length >= 2, 'reconnect responses');
  const r = c.received[before]!;
  t.equal(r.typeUrl, A);
  t.same(r.names.sort(), ['u/change', 'u/new'], 'only what changed or is new');
  t.same(r.removed, ['u/gone'], 'held-but-deleted removed (istio/istio#41494)');
  t.same([...c.held(A).keys()].sort(), ['u/change', 'u/keep', 'u/new']);
});

t.test('subscribe * and unsubscribe * on the first request means nothing; on-demand keys answer by name', async (t) => {
  const f = await fixture(t);
  f.cache.commit([
    {
      typeUrl: A,
      upserts: [f.workload('c//Pod/ns/p', '10.0.0.5'), f.service('ns', 'h.ns.svc.cluster.local', '10.96.0.9')],
    },
  ]);
  const c = f.client({ onDemand: true });
  c.connect();
  await synced(c);
  t.same(c.received[0]!.names, [], 'nothing subscribed');
  c.demand('/10.0.0.5');
  await c.until(() => c.received.length >= 3, 'on-demand answer');
  t.same(c.received[2]!.names, ['c//Pod/ns/p'], 'resource under its real name');
  t.same(c.received[2]!.removed, ['/10.0.0.5'], 'key listed so ztunnel wakes its waiter');
  c.demand('ns/h.ns.svc.cluster.local');
  await c.until(() => c.received.length >= 4, 'hostname answer');
  t.same(c.received[3]!.names, ['ns/h.ns.svc.cluster.local']);
  t.same(c.received[3]!.removed, []);
  c.demand('c//Pod/ns/p');
  await c.until(() => c.received.length >= 5, 'uid answer (resent even though held: rule 9)');
  t.same(c.received[4]!.names, ['c//Pod/ns/p']);
  // Rule 13/14: a missing key is answered as removed and remembered.
  c.demand('/10.0.0.77');
  await c.until(() => c.received.length >= 6, 'missing key');
  t.same(c.received[5]!.removed, ['/10.0.0.77']);
  f.cache.commit([
    {
      typeUrl: A,
      upserts: [f.workload('c//Pod/ns/late', '10.0.0.77'), f.workload('c//Pod/ns/unrelated', '10.0.0.78')],
    },
  ]);
  await c.until(() => c.received.length >= 7, 'late arrival pushed');
  t.same(c.received[6]!.names, ['c//Pod/ns/late'], 'remembered subscription fires; unrelated not sent');
});

t.test('NACK (error_detail with code 0) is recorded and not answered', async (t) => {
  const f = await fixture(t);
  let reject = true;
  const c = f.client({ validate: (_t, name) => (reject && name === 'u/bad' ? 'invalid' : undefined) });
  c.connect();
  await synced(c);
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/bad', '10.0.0.1'), f.workload('u/good', '10.0.0.2')] }]);
  await c.until(() => f.xds.status()[0]?.types.find((x) => x.typeUrl === A)?.lastNack, 'NACK recorded');
  const st = f.xds.status()[0]!.types.find((x) => x.typeUrl === A)!;
  t.match(st.lastNack!.message, /u\/bad: invalid/);
  t.equal(st.nacks, 1);
  t.ok(c.held(A).has('u/good'), 'valid part of a NACKed response applied');
  const n = c.received.length;
  reject = false;
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/marker', '10.0.0.9')] }]);
  await c.until(() => c.received.length > n, 'marker');
  t.same(c.received[n]!.names, ['u/marker'], 'nothing was sent in reply to the NACK');
  const m = await f.metrics.getSingleMetricAsString('pilot_total_xds_rejects');
  t.match(m, /pilot_total_xds_rejects\{type="Address"\} 1/);
});

t.test('subscription changes are honoured on a stale nonce (rule 19)', async (t) => {
  const f = await fixture(t);
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/1', '10.0.0.1')] }]);
  const c = f.client({ onDemand: true, autoAck: false });
  c.connect();
  await c.until(() => c.received.length >= 2, 'initial');
  c.send({ typeUrl: A, responseNonce: 'stale-nonce', resourceNamesSubscribe: ['u/1'] });
  await c.until(() => c.received.length >= 3, 'answered');
  t.same(c.received[2]!.names, ['u/1']);
});

t.test('explicit * is wildcard; wildcard plus a name, unsubscribing the name replies with it (rule 10)', async (t) => {
  const f = await fixture(t);
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/1', '10.0.0.1')] }]);
  const c = f.client({ types: [A] });
  c.connect();
  await c.until(() => c.received.length >= 1, 'initial');
  c.send({ typeUrl: A, resourceNamesSubscribe: ['*', 'u/1'] });
  await c.until(() => c.received.length >= 2, 'explicit subscribe answered');
  t.same(c.received[1]!.names, ['u/1']);
  c.send({ typeUrl: A, resourceNamesUnsubscribe: ['u/1'] });
  await c.until(() => c.received.length >= 3, 'unsubscribe under wildcard answered');
  t.same(c.received[2]!.names, ['u/1'], 'still covered by wildcard: resent');
  f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/2', '10.0.0.2')] }]);
  await c.until(() => c.received.length >= 4, 'wildcard still active');
  t.same(c.received[3]!.names, ['u/2']);
});

t.test(
  'bad input: no type_url → InvalidArgument; unknown type answered empty; garbage request bytes → InvalidArgument',
  async (t) => {
    const f = await fixture(t);
    const c1 = f.client({ types: [] });
    c1.connect();
    c1.send({ typeUrl: '' });
    await c1.until(() => c1.status, 'status');
    t.equal(c1.status!.code, 3, 'INVALID_ARGUMENT');
    const c2 = f.client({ types: ['type.googleapis.com/some.Unknown'] });
    c2.connect();
    await c2.until(() => c2.received.length >= 1, 'unknown type answered');
    t.equal(c2.received[0]!.typeUrl, 'type.googleapis.com/some.Unknown');
    t.same(c2.received[0]!.names, []);
    const c3 = f.client({ types: [] });
    c3.connect();
    c3.sendBytes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    await c3.until(() => c3.status, 'status');
    t.equal(c3.status!.code, 3);
    // The server is fine afterwards.
    const ok = f.client();
    ok.connect();
    await synced(ok);
    t.pass('server still serves');
  },
);

t.test('a request over the receive limit is rejected and the daemon stays fine', async (t) => {
  const f = await fixture(t, { maxReceiveBytes: 64 * 1024 });
  const c = f.client({ types: [] });
  c.connect();
  c.send({ typeUrl: A, resourceNamesSubscribe: ['x'.repeat(100 * 1024)] });
  await c.until(() => c.status, 'status');
  t.equal(c.status!.code, 8, 'RESOURCE_EXHAUSTED');
  const ok = f.client();
  ok.connect();
  await synced(ok);
  t.pass('server still serves');
});

t.test('missing or invalid credentials → Unauthenticated with an opaque message', async (t) => {
  const f = await fixture(t, { token: 'sekrit' });
  const bad = f.client({ token: 'wrong' });
  bad.connect();
  await bad.until(() => bad.status, 'status');
  t.equal(bad.status!.code, 16);
  t.equal(bad.status!.details, 'authentication failed');
  const good = f.client();
  good.connect();
  await synced(good);
  t.pass('valid token accepted');
});

t.test('garbage bytes on the TLS port close that connection; the daemon keeps serving', async (t) => {
  const f = await fixture(t);
  const net = await import('node:net');
  await new Promise<void>((resolve) => {
    const s = net.connect(f.port, '127.0.0.1', () => s.write(Buffer.alloc(4096, 0x5a)));
    s.on('close', () => resolve());
    s.on('error', () => undefined);
  });
  const c = f.client();
  c.connect();
  await synced(c);
  t.pass('still serving');
});

t.test('a stuck client is reset once it pins too many tombstones; its reconnect resyncs exactly', async (t) => {
  const f = await fixture(t, { maxTombstones: 10 });
  const stuck = f.client({ autoAck: false });
  stuck.connect();
  await synced(stuck);
  // Freeze this stream's cursor by never letting it flush: hold a write in flight.
  const s = [...(f.xds as unknown as { streams: Set<{ flush(): void; inFlight: boolean }> }).streams][0]!;
  s.inFlight = true;
  for (let i = 0; i < 3000; i++)
    f.cache.commit([{ typeUrl: A, upserts: [f.workload(`u/${i}`, '10.1.0.1')], removes: i > 0 ? [`u/${i - 1}`] : [] }]);
  s.inFlight = false;
  s.flush();
  await stuck.until(() => stuck.status, 'stream reset');
  t.equal(stuck.status!.code, 14, 'UNAVAILABLE: reconnect to resync');
  const stats = f.cache.stats().types[A]!;
  t.ok(stats.tombstones <= 10 + 1, `tombstones bounded (${stats.tombstones})`);
  stuck.connect();
  await stuck.until(() => [...stuck.held(A).keys()].join() === 'u/2999', 'exact state after resync');
  t.pass('resynced');
});

t.test(
  'fan-out: wildcard streams share one encoded body yet ' +
    'each gets its own nonce and exactly the coalesced diff; ' +
    'an on-demand stream only its key',
  async (t) => {
    const f = await fixture(t);
    f.cache.commit([
      {
        typeUrl: A,
        upserts: [f.workload('u/x', '10.0.2.1'), f.workload('u/y', '10.0.2.2'), f.workload('u/z', '10.0.2.3')],
      },
    ]);
    const wild = [f.client(), f.client(), f.client()];
    const od = f.client({ onDemand: true });
    for (const c of [...wild, od]) c.connect();
    for (const c of [...wild, od]) await synced(c);
    od.demand('u/z');
    await od.until(() => od.held(A).has('u/z'), 'on-demand key');
    const before = [...wild, od].map((c) => c.received.length);
    // Rapid commits: streams may see them in different batches; each must end at the cache's state.
    for (let i = 0; i < 10; i++) f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/x', `10.0.3.${i}`)] }]);
    f.cache.commit([{ typeUrl: A, removes: ['u/y'] }]);
    f.cache.commit([{ typeUrl: A, upserts: [f.workload('u/z', '10.0.2.33')] }]);
    const xAt = (c: ZtunnelClient): number | undefined =>
      (c.held(A).get('u/x')?.value.workload as { addresses: Buffer[] } | undefined)?.addresses[0]?.[3];
    const zAt = (c: ZtunnelClient): number | undefined =>
      (c.held(A).get('u/z')?.value.workload as { addresses: Buffer[] } | undefined)?.addresses[0]?.[3];
    for (const c of wild) await c.until(() => xAt(c) === 9 && !c.held(A).has('u/y') && zAt(c) === 33, 'final state');
    await od.until(() => zAt(od) === 33, 'on-demand update');
    for (const c of wild) {
      t.same([...c.held(A).keys()].sort(), ['u/x', 'u/z'], 'wildcard stream holds exactly the cache');
      for (const r of c.received) t.equal(new Set(r.names).size, r.names.length, 'no name twice in one response');
    }
    const nonces = [...wild, od].flatMap((c) => c.received.map((r) => r.nonce));
    t.equal(new Set(nonces).size, nonces.length, 'every response has its own nonce, across streams too');
    const odNames = od.received.slice(before[3]).flatMap((r) => [...r.names, ...r.removed]);
    t.same([...new Set(odNames)], ['u/z'], 'the on-demand stream got only its key');
  },
);
