import t from 'tap';
import { Registry } from 'prom-client';
import { waitFor } from '../lifecycle';
import { KubeClient } from './client';
import { KINDS, type KindSpec } from './kinds';
import { createKubeMetrics } from './metrics';
import { Reflector } from './reflector';
import { KubeSource } from './source';
import { FakeApiServer } from './testing/fake-apiserver';
import { captureLogger, RecordingSink } from './testing/recording-sink';

const PODS = '/api/v1/pods';
const pod = (name: string, ip: string, extra: Record<string, unknown> = {}) => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    labels: { app: name },
    managedFields: [{ manager: 'kubectl', fieldsV1: { big: 'x'.repeat(200) } }],
    annotations: { keep: 'me', 'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}' },
  },
  spec: {
    nodeName: 'n1',
    serviceAccountName: 'sa',
    containers: [{ name: 'c', image: 'img', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'B' }] }],
    volumes: [{ name: 'v' }],
  },
  status: { podIP: ip, podIPs: [{ ip }], phase: 'Running', containerStatuses: [{ name: 'c' }] },
  ...extra,
});

type Teardown = { teardown(fn: () => unknown): void };

async function setup(t: Teardown, kind: KindSpec = KINDS.Pod!, tune: Record<string, unknown> = {}) {
  const fake = new FakeApiServer();
  await fake.start();
  const api = new KubeClient({ server: fake.url, source: 'test' });
  const sink = new RecordingSink();
  const cap = captureLogger();
  const registry = new Registry();
  const metrics = createKubeMetrics(registry);
  const r = new Reflector({
    api,
    kind,
    sink,
    logger: cap.logger,
    metrics,
    pageSize: 3,
    backoff: { initialMs: 20, maxMs: 200 },
    random: () => 0.5,
    ...tune,
  });
  t.teardown(async () => {
    await r.close();
    api.close();
    await fake.close();
  });
  return { fake, api, sink, r, cap, registry };
}

t.test('paginated initial list: every page fetched with limit/continue, slimmed, loaded once', async (t) => {
  const { fake, sink, r } = await setup(t);
  for (let i = 0; i < 7; i++) fake.put(PODS, pod(`p${i}`, `10.0.0.${i}`));
  r.start();
  await waitFor(() => sink.loaded.has('kube:Pod'), { what: 'loaded' });
  const lists = fake.requests.filter((q) => q.query.get('watch') !== 'true');
  t.equal(lists.length, 3, '7 items at limit 3 = 3 pages');
  t.same(
    lists.map((q) => q.query.get('limit')),
    ['3', '3', '3'],
  );
  t.notOk(lists[0]!.query.get('continue'));
  t.ok(lists[1]!.query.get('continue') && lists[2]!.query.get('continue'), 'later pages carry continue');
  t.equal(sink.keys('kube:Pod').length, 7);
  t.equal(sink.replaceCalls, 1, 'one replaceSource for the whole list');
  const p0 = sink.get('kube:Pod', 'default/p0')!;
  t.equal(p0.kind, 'Pod', 'list items get kind stamped');
  t.equal(p0.apiVersion, 'v1');
  const meta = p0.metadata as Record<string, unknown>;
  t.notOk('managedFields' in meta, 'managedFields dropped');
  t.same(meta.annotations, { keep: 'me' }, 'last-applied-configuration dropped, others kept');
  t.same(p0.spec, {
    nodeName: 'n1',
    serviceAccountName: 'sa',
    containers: [{ name: 'c', ports: [{ containerPort: 80 }] }],
  });
  t.same(p0.status, { podIP: '10.0.0.0', podIPs: [{ ip: '10.0.0.0' }], phase: 'Running' });
  await waitFor(() => fake.openWatches(PODS) === 1, { what: 'watch open' });
  const w = fake.requests.find((q) => q.query.get('watch') === 'true')!;
  t.equal(w.query.get('resourceVersion'), String(fake.resourceVersion), 'watch starts at the list RV');
  t.equal(w.query.get('allowWatchBookmarks'), 'true');
  t.ok(Number(w.query.get('timeoutSeconds')) >= 300, 'server-side timeout requested');
});

t.test('watch events applied in order; bookmarks advance the resume RV', async (t) => {
  const { fake, sink, r } = await setup(t);
  fake.put(PODS, pod('a', '10.0.0.1'));
  r.start();
  await waitFor(() => fake.openWatches(PODS) === 1);
  fake.put(PODS, pod('b', '10.0.0.2'));
  fake.put(PODS, pod('a', '10.0.0.9'));
  fake.remove(PODS, 'default', 'b');
  await waitFor(() => sink.changes.filter((c) => c.via === 'event').length === 3, { what: '3 events' });
  t.same(
    sink.changes.filter((c) => c.via === 'event').map((c) => `${c.type}:${c.key}`),
    ['upsert:default/b', 'upsert:default/a', 'delete:default/b'],
  );
  t.same(sink.keys('kube:Pod'), ['default/a']);
  t.equal((sink.get('kube:Pod', 'default/a')!.status as { podIP: string }).podIP, '10.0.0.9');
  // Unrelated writes elsewhere move the global RV; a bookmark tells us.
  fake.put('/api/v1/services', { metadata: { name: 's', namespace: 'default' } });
  fake.bookmark(PODS, 'Pod', 'v1');
  const bookmarkRv = String(fake.resourceVersion);
  await waitFor(() => r.status().resourceVersion === bookmarkRv, { what: 'rv from bookmark' });
  fake.endWatches();
  await waitFor(() => fake.requests.filter((q) => q.query.get('watch') === 'true').length === 2, { what: 're-watch' });
  const w2 = fake.requests.filter((q) => q.query.get('watch') === 'true')[1]!;
  t.equal(w2.query.get('resourceVersion'), bookmarkRv, 're-watch resumes from the bookmark RV');
  t.equal(r.status().lists, 1, 'server-side watch end is renewed without a relist');
});

t.test('410 as an in-stream ERROR event → relist emitting only the real differences', async (t) => {
  const { fake, sink, r, registry } = await setup(t);
  fake.put(PODS, pod('keep', '10.0.0.1'));
  fake.put(PODS, pod('change', '10.0.0.2'));
  fake.put(PODS, pod('drop', '10.0.0.3'));
  r.start();
  await waitFor(() => fake.openWatches(PODS) === 1);
  // Changes land while we are disconnected, then history is compacted past our RV.
  fake.stallWatches = true;
  fake.endWatches();
  fake.put(PODS, pod('change', '10.0.0.22'));
  fake.remove(PODS, 'default', 'drop');
  fake.put(PODS, pod('new', '10.0.0.4'));
  fake.compact();
  fake.stallWatches = false;
  await waitFor(() => r.status().lists === 2, { what: 'relist' });
  const after = sink.changes.filter((c) => c.via === 'replace').slice(3);
  t.same(
    after.map((c) => `${c.type}:${c.key}`).sort(),
    ['delete:default/drop', 'upsert:default/change', 'upsert:default/new'],
    'only differences',
  );
  t.same(sink.keys('kube:Pod'), ['default/change', 'default/keep', 'default/new']);
  t.equal(r.status().relistsGone, 1);
  const m = await registry.getSingleMetricAsString('ambientd_kube_relists_total');
  t.match(m, /reason="gone"} 1/);
  await waitFor(() => fake.openWatches(PODS) === 1, { what: 'watching again' });
  fake.put(PODS, pod('later', '10.0.0.5'));
  await waitFor(() => sink.keys('kube:Pod').includes('default/later'), { what: 'events flow after relist' });
});

t.test('410 as HTTP status on the watch request → relist', async (t) => {
  const { fake, sink, r } = await setup(t);
  fake.goneMode = 'status';
  fake.put(PODS, pod('a', '10.0.0.1'));
  r.start();
  await waitFor(() => fake.openWatches(PODS) === 1);
  fake.stallWatches = true;
  fake.endWatches();
  fake.put(PODS, pod('b', '10.0.0.2'));
  fake.compact();
  fake.stallWatches = false;
  await waitFor(() => r.status().lists === 2, { what: 'relist after 410 status' });
  t.same(sink.keys('kube:Pod'), ['default/a', 'default/b']);
  t.equal(r.status().relistsGone, 1);
});

t.test('410 on a list continue token restarts the list from scratch', async (t) => {
  const { fake, sink, r } = await setup(t);
  for (let i = 0; i < 5; i++) fake.put(PODS, pod(`p${i}`, `10.0.0.${i}`));
  fake.failures.push({ match: (q) => !!q.query.get('continue'), status: 410, reason: 'Expired', times: 1 });
  r.start();
  await waitFor(() => sink.loaded.has('kube:Pod'), { what: 'loaded' });
  const lists = fake.requests.filter((q) => q.query.get('watch') !== 'true');
  t.same(
    lists.map((q) => (q.query.get('continue') ? 'cont' : 'first')),
    ['first', 'cont', 'first', 'cont'],
    'restarted from the first page',
  );
  t.equal(sink.keys('kube:Pod').length, 5, 'complete set, no duplicates');
  t.equal(sink.replaceCalls, 1, 'a partial list never reaches the store');
});

t.test('429 with Retry-After and 5xx are retried with backoff', async (t) => {
  const { fake, sink, r, registry, cap } = await setup(t);
  fake.put(PODS, pod('a', '10.0.0.1'));
  fake.failures.push({
    match: (q) => q.query.get('watch') !== 'true',
    status: 429,
    reason: 'TooManyRequests',
    headers: { 'retry-after': '0' },
    times: 1,
  });
  fake.failures.push({
    match: (q) => q.query.get('watch') !== 'true',
    status: 503,
    reason: 'ServiceUnavailable',
    times: 2,
  });
  r.start();
  await waitFor(() => sink.loaded.has('kube:Pod'), { what: 'loaded after retries' });
  const lists = fake.requests.filter((q) => q.query.get('watch') !== 'true');
  t.equal(lists.length, 4, '429, 503, 503, then success');
  const errs = await registry.getSingleMetricAsString('ambientd_kube_errors_total');
  t.match(errs, /status="429"} 1/);
  t.match(errs, /status="503"} 2/);
  t.ok(
    cap.lines().some((l) => String(l.msg).includes('429')),
    'throttling logged',
  );
});

t.test('stall detector: a silent watch is aborted and re-opened from the last RV', async (t) => {
  const { fake, r, cap } = await setup(t, KINDS.Pod, { stallMs: 150 });
  fake.put(PODS, pod('a', '10.0.0.1'));
  fake.stallWatches = true;
  r.start();
  await waitFor(() => r.status().stalls >= 1, { what: 'stall detected' });
  fake.stallWatches = false;
  await waitFor(() => r.status().watchesOpened >= 2, { what: 're-watched' });
  const ws = fake.requests.filter((q) => q.query.get('watch') === 'true');
  t.ok(ws.length >= 2);
  t.equal(ws[1]!.query.get('resourceVersion'), ws[0]!.query.get('resourceVersion'), 'same RV: no relist');
  t.equal(r.status().lists, 1);
  t.ok(
    cap.lines().some((l) => String(l.msg).includes('stalled')),
    'stall logged',
  );
});

t.test('403 names the missing verb, resource and API group; retried', async (t) => {
  const { fake, sink, r, cap } = await setup(t, KINDS.Gateway);
  const path = '/apis/gateway.networking.k8s.io/v1/gateways';
  fake.failures.push({ match: (q) => q.path === path, status: 403, reason: 'Forbidden', times: 2 });
  fake.put(path, { metadata: { name: 'g', namespace: 'ns' }, spec: {} });
  r.start();
  await waitFor(() => sink.loaded.has('kube:Gateway'), { what: 'loaded after RBAC fixed' });
  const rbac = cap.lines().filter((l) => l.level === 50 && String(l.msg).startsWith('RBAC'));
  t.equal(rbac.length, 2, 'one error per denial');
  t.match(rbac[0]!.msg, /may not list gateways in API group "gateway\.networking\.k8s\.io"/);
  t.same([rbac[0]!.verb, rbac[0]!.resource, rbac[0]!.apiGroup], ['list', 'gateways', 'gateway.networking.k8s.io']);
  t.same(sink.keys('kube:Gateway'), ['ns/g']);
});

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

t.test('403 on the watch (list allowed) names the watch verb', async (t) => {
  const { fake, sink, r, cap } = await setup(t);
  fake.failures.push({ match: (q) => q.query.get('watch') === 'true', status: 403, reason: 'Forbidden', times: 1 });
  r.start();
  await waitFor(() => cap.lines().some((l) => l.level === 50), { what: 'denial logged' });
  const d = cap.lines().find((l) => l.level === 50)!;
  t.same([d.verb, d.resource, d.apiGroup], ['watch', 'pods', '']);
  t.match(d.msg, 'may not watch pods in API group "(core)"');
  await waitFor(() => fake.openWatches(PODS) === 1, { what: 'watch after retry' });
  t.ok(sink.loaded.has('kube:Pod'));
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
