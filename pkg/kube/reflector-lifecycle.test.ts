// Reflector lifecycle: CRDs that come and go, draining a watch backlog, failed relists, whenSynced.
import t from 'tap';
import { waitFor } from '../lifecycle';
import { KubeClient } from './client';
import { KINDS } from './kinds';
import { Reflector } from './reflector';
import { KubeSource } from './source';
import { FakeApiServer } from './testing/fake-apiserver';
import { captureLogger, RecordingSink } from './testing/recording-sink';
import { PODS, pod, setup } from './testing/reflector-fixtures';

t.test('CRD not installed: reported, kind marked loaded (empty), flows when the CRD appears', async (t) => {
  const fake = new FakeApiServer();
  await fake.start();
  const api = new KubeClient({ server: fake.url, source: 'test' });
  const sink = new RecordingSink();
  const cap = captureLogger();
  const gwPath = '/apis/gateway.networking.k8s.io/v1/gateways';
  fake.missing.add(gwPath);
  const src = new KubeSource({
    api,
    sink,
    logger: cap.logger,
    kinds: [KINDS.Namespace!, KINDS.Gateway!],
    // A long poll so only the CRD watch can explain a quick recovery.
    reflector: { backoff: { initialMs: 60_000, maxMs: 60_000 }, crdPollMaxMs: 60_000 },
  });
  t.teardown(async () => {
    await src.close();
    api.close();
    await fake.close();
  });
  await src.start();
  await waitFor(() => src.synced(), { what: 'synced with CRD missing' });
  t.ok(sink.loaded.has('kube:Gateway'), 'missing kind does not block readiness');
  t.ok(
    cap
      .lines()
      .some(
        (l) => String(l.msg).includes('gateways.gateway.networking.k8s.io') && String(l.msg).includes('not installed'),
      ),
    'reported',
  );
  t.equal(src.status().find((s) => s.kind === 'Gateway')!.state, 'not-installed');
  await waitFor(() => fake.openWatches('/apis/apiextensions.k8s.io/v1/customresourcedefinitions') === 1, {
    what: 'CRD watch',
  });
  fake.missing.delete(gwPath);
  fake.put(gwPath, {
    metadata: { name: 'eastwest', namespace: 'istio-gateways' },
    spec: { gatewayClassName: 'istio-remote' },
  });
  fake.put('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    metadata: { name: 'gateways.gateway.networking.k8s.io' },
    status: { conditions: [{ type: 'Established', status: 'True' }] },
  });
  await waitFor(() => sink.keys('kube:Gateway').length === 1, { what: 'gateway flows', timeoutMs: 5000 });
  t.same(sink.keys('kube:Gateway'), ['istio-gateways/eastwest']);
  t.notOk(sink.registered.has('kube:CustomResourceDefinition'), 'CRDs never reach the store');
});

t.test('CRD deleted while watching: the kind empties in the store and waits for the CRD again', async (t) => {
  const { fake, sink, r } = await setup(t, KINDS.PeerAuthentication);
  const path = '/apis/security.istio.io/v1/peerauthentications';
  fake.put(path, { metadata: { name: 'strict', namespace: 'a' }, spec: { mtls: { mode: 'STRICT' } } });
  r.start();
  await waitFor(() => fake.openWatches(path) === 1, { what: 'watching' });
  t.same(sink.keys('kube:PeerAuthentication'), ['a/strict']);
  fake.missing.add(path);
  fake.endWatches();
  await waitFor(() => r.status().state === 'not-installed', { what: 'not-installed' });
  t.same(sink.keys('kube:PeerAuthentication'), [], 'objects of a removed CRD are withdrawn');
  fake.missing.delete(path);
  await waitFor(() => sink.keys('kube:PeerAuthentication').length === 1, {
    what: 'back (by polling, no CRD watch here)',
  });
});

t.test('a backlog of buffered watch events is applied over several event-loop turns, not one macrotask', async (t) => {
  // The stream hands over 20 chunks that are all already buffered (as after an API server stall).
  const events = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({
      type: 'MODIFIED',
      object: {
        ...pod(`b${i}`, `10.9.0.${i}`),
        metadata: { name: `b${i}`, namespace: 'default', resourceVersion: String(100 + i) },
      },
    }),
  );
  let aborted!: () => void;
  const done = new Promise<void>((r) => (aborted = r));
  const api = {
    json: async () => ({ metadata: { resourceVersion: '99' }, items: [] }),
    stream: async (_path: string, opts: { signal?: AbortSignal }) => ({
      ...(opts.signal?.addEventListener('abort', () => aborted()), {}),
      abort: () => aborted(),
      async *lines() {
        for (const e of events) yield [e];
        await done;
      },
    }),
    close: () => undefined,
  } as unknown as KubeClient;
  const sink = new RecordingSink();
  const appliedAtTurnEnd: number[] = [];
  const applyEvents = sink.applyEvents.bind(sink);
  sink.applyEvents = (id, evs) => {
    applyEvents(id, evs);
    // What a debouncer's setImmediate (or an xDS write) queued by this event would see when it runs.
    const n = sink.changes.length;
    if (n === 1) setImmediate(() => appliedAtTurnEnd.push(sink.changes.length));
  };
  const r = new Reflector({
    api,
    kind: KINDS.Pod!,
    sink,
    logger: captureLogger().logger,
    yieldEveryMs: 0,
    random: () => 0.5,
  });
  t.teardown(() => r.close());
  r.start();
  await waitFor(() => sink.changes.length === 20, { what: 'all 20 events applied' });
  t.equal(appliedAtTurnEnd.length, 1);
  t.ok(
    appliedAtTurnEnd[0]! < 20,
    `the turn after the first event ran before the backlog was done (${appliedAtTurnEnd[0]} of 20 applied)`,
  );
  t.same(
    sink.changes.map((c) => c.key),
    events.map((_, i) => `default/b${i}`),
    'every event applied, in order',
  );
});

t.test(
  'a relist that fails (5xx, 403, a broken page) keeps the last good set; only a good list replaces it',
  async (t) => {
    const { fake, sink, r } = await setup(t);
    const all = ['a', 'b', 'c', 'd', 'e'];
    all.forEach((n, i) => fake.put(PODS, pod(n, `10.0.0.${i + 1}`)));
    r.start();
    await waitFor(() => fake.openWatches(PODS) === 1, { what: 'watching' });
    t.same(
      sink.keys('kube:Pod'),
      all.map((n) => `default/${n}`),
    );
    const replaces = sink.replaceCalls;
    // History compacted while disconnected: the reflector must relist, and every relist fails for a while.
    fake.stallWatches = true;
    fake.endWatches();
    fake.remove(PODS, 'default', 'e');
    fake.compact();
    const isList = (q: { query: URLSearchParams }): boolean => q.query.get('watch') !== 'true';
    fake.failures.push({ match: isList, status: 503, reason: 'ServiceUnavailable', times: 2 });
    fake.failures.push({ match: isList, status: 403, reason: 'Forbidden', times: 1 });
    // Page 2 of the next attempt fails (4 pods, pages of 3): the first page alone must not reach the store.
    fake.failures.push({
      match: (q) => isList(q) && q.query.has('continue'),
      status: 500,
      reason: 'InternalError',
      times: 1,
    });
    fake.stallWatches = false;
    const changesBefore = sink.changes.length;
    await waitFor(() => fake.failures.every((f) => f.times === 0), { what: 'every failure served', timeoutMs: 10_000 });
    await waitFor(() => sink.keys('kube:Pod').length === 4, { what: 'the good relist', timeoutMs: 10_000 });
    t.equal(sink.replaceCalls, replaces + 1, 'one replace: no failed or partial list reached the store');
    t.same(
      sink.changes.slice(changesBefore).map((c) => `${c.type}:${c.key}`),
      ['delete:default/e'],
      'the last good set was kept throughout: the only change is the one the good list shows',
    );
    t.same(
      sink.keys('kube:Pod'),
      ['default/a', 'default/b', 'default/c', 'default/d'],
      'a successful list without e removes it',
    );
  },
);

t.test('whenSynced: resolves true once every kind has listed, false at its timeout, and at close', async (t) => {
  const fake = new FakeApiServer();
  await fake.start();
  const api = new KubeClient({ server: fake.url, source: 'test' });
  const gwPath = '/apis/gateway.networking.k8s.io/v1/gateways';
  // The Gateway list fails (500) until allowed: the source cannot be synced before that.
  const failing = { match: (r: { path: string }) => r.path === gwPath, status: 500, times: 1_000_000 };
  fake.failures.push(failing);
  const src = new KubeSource({
    api,
    sink: new RecordingSink(),
    logger: captureLogger().logger,
    kinds: [KINDS.Namespace!, KINDS.Gateway!],
    reflector: { backoff: { initialMs: 20, maxMs: 20 } },
  });
  t.teardown(async () => {
    await src.close();
    api.close();
    await fake.close();
  });
  await src.start();
  t.equal(await src.whenSynced(50), false, 'not synced within 50 ms while one kind cannot list');
  // Its own timeout (60 s) would also resolve true: waiting (bounded, 5 s) for it to have resolved tells them apart.
  let result: boolean | undefined;
  void src.whenSynced(60_000).then((v) => (result = v));
  failing.times = 0;
  await waitFor(() => result !== undefined, { timeoutMs: 5000, what: 'whenSynced resolved by the first list' });
  t.equal(result, true, "resolved by the last kind's first list, not by its timer");
  t.equal(await src.whenSynced(0), true, 'already synced: resolves at once');
});
