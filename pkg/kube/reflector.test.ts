// Reflector list/watch protocol: pagination, watch events and bookmarks, 410 relists, retries, stalls, 403s.
import t from 'tap';
import { waitFor } from '../lifecycle';
import { KINDS } from './kinds';
import { PODS, pod, setup } from './testing/reflector-fixtures';

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
