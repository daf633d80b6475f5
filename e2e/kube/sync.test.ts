/**
 * The Kubernetes registry source against a real kube-apiserver + etcd:
 * initial sync, add/update/delete of every kind, CRDs installed after start,
 * apiserver restart mid-watch, etcd compaction forcing 410 → relist with no
 * lost or duplicated change. The daemon runs as the istiod ServiceAccount
 * with exactly the ClusterRole in deploy/kubernetes.
 */
import * as path from 'node:path';
import t from 'tap';
import { KubeSource, type KubeApi, type RegistrySink } from '../../pkg/kube';
import { createSilentLogger } from '../../pkg/log';
import { systemClock, waitFor } from '../../pkg/lifecycle';
import { LocalRegistry } from '../../pkg/registry';
import { RecordingSink } from '../../pkg/kube/testing';
import { CutProxy, findBinaries, REPO_ROOT, TestCluster } from './harness';
import * as k from './objects';

const bins = findBinaries();
const skip = typeof bins === 'string' ? bins : false;
const WAIT = { timeoutMs: 45_000, intervalMs: 20 };
// Starting etcd + kube-apiserver on a shared 2-core machine can take a while: raise tap's 30 s file timeout.
if (!skip) t.setTimeout(300_000);

/** Feeds both the recorder (exact change accounting) and the real store (validation). */
function tee(a: RegistrySink, b: RegistrySink): RegistrySink {
  return {
    registerSource: (id) => {
      a.registerSource(id);
      b.registerSource(id);
    },
    replaceSource: (id, objs) => {
      a.replaceSource(id, objs);
      b.replaceSource(id, objs);
    },
    applyEvents: (id, evs) => {
      a.applyEvents(id, evs);
      b.applyEvents(id, evs);
    },
    markLoaded: (id) => {
      a.markLoaded(id);
      b.markLoaded(id);
    },
  };
}

// Set by t.before (definite assignment: every test below is skipped when it did not run).
let cluster!: TestCluster;
let admin!: KubeApi;
let proxy!: CutProxy;
let rec!: RecordingSink;
let store!: LocalRegistry;
let source!: KubeSource;

t.before(async () => {
  if (typeof bins === 'string') return;
  // Pods bypass the watch cache so an etcd compaction reaches the watch as 410.
  cluster = await TestCluster.start(bins, { noWatchCache: ['pods'] });
  admin = cluster.adminClient();

  // The daemon's identity: the manifests' ServiceAccount, ClusterRole and bindings, via a TokenRequest token.
  for (const f of ['00-namespace.yaml', '10-rbac.yaml'])
    await k.applyFile(admin, path.join(REPO_ROOT, 'deploy/kubernetes', f));
  const token = await k.requestToken(admin, 'istio-system', 'istiod', { audiences: [k8sAudience()] });
  proxy = new CutProxy(() => cluster.apiPort);
  await proxy.start();
  const daemonApi = cluster.client({ ...cluster.tokenConfig(token), server: `https://127.0.0.1:${proxy.port}` });

  // Initial content, before the daemon starts.
  await k.apply(admin, k.ns('apps', { 'istio.io/dataplane-mode': 'ambient' }));
  await k.apply(admin, k.node('node-1', '192.0.2.1', { 'topology.kubernetes.io/zone': 'z1' }));
  await k.apply(admin, k.service('apps', 'web', 'web'));
  await k.apply(admin, k.endpointSlice('apps', 'web-x1', 'web', '10.1.0.1'));
  for (let i = 0; i < 5; i++)
    await k.setPodRunning(admin, await k.apply(admin, k.pod('apps', `web-${i}`, 'web', 'node-1')), `10.1.0.${10 + i}`);

  rec = new RecordingSink();
  store = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  source = new KubeSource({
    api: daemonApi,
    sink: tee(rec, store),
    logger: createSilentLogger(),
    reflector: { pageSize: 2, backoff: { initialMs: 100, maxMs: 1000 }, crdPollMaxMs: 60_000 },
  });
  await source.start();
});

// One teardown, in reverse order of start-up (and safe after a partial setup).
t.teardown(async () => {
  await source?.close();
  await proxy?.close();
  await cluster?.stop();
});

t.test('initial sync: every kind listed (paginated), CRD kinds reported missing but ready', { skip }, async (t) => {
  await waitFor(() => source.synced(), { ...WAIT, what: 'synced' });
  t.ok(store.isLoaded(), 'store sees every source loaded');
  t.same(
    rec.keys('kube:Pod'),
    [0, 1, 2, 3, 4].map((i) => `apps/web-${i}`),
  );
  t.ok(rec.keys('kube:Namespace').includes('/apps') && rec.keys('kube:Namespace').includes('/kube-system'));
  t.same(rec.keys('kube:Node'), ['/node-1']);
  t.ok(rec.keys('kube:Service').includes('apps/web'));
  t.same(rec.keys('kube:EndpointSlice'), ['apps/web-x1']);
  const snap = store.snapshot();
  t.ok(snap.pods.size >= 5, 'the real store accepted the pods');
  t.same(snap.rejected, [], 'no object rejected by the store');
  // A missing CRD's reflector re-polls discovery (state "listing" for the length of a poll), so read the
  // states once no poll is in flight rather than at an arbitrary instant.
  const crdStates = (): (string | undefined)[] => {
    const states = Object.fromEntries(source.status().map((s) => [s.kind, s.state]));
    return [states.Gateway, states.AuthorizationPolicy, states.PeerAuthentication];
  };
  await waitFor(() => crdStates().every((s) => s !== 'listing'), {
    timeoutMs: 10_000,
    what: 'CRD polls settled',
  }).catch(() => undefined);
  t.same(crdStates(), ['not-installed', 'not-installed', 'not-installed']);
});

t.test('CRDs installed after start: their kinds flow without a restart', { skip }, async (t) => {
  await k.applyFile(admin, path.join(REPO_ROOT, 'e2e/kube/fixtures/crds.yaml'));
  await k.apply(admin, k.ns('istio-gateways'));
  await k.waitCrdsEstablished(admin, [
    'gateways.gateway.networking.k8s.io',
    'authorizationpolicies.security.istio.io',
    'peerauthentications.security.istio.io',
  ]);
  await k.apply(admin, k.remoteGateway('istio-gateways', 'peer-b', '198.51.100.7'));
  await k.apply(admin, k.authorizationPolicy('apps', 'allow-b', 'web'));
  await k.apply(admin, k.peerAuthentication('apps', 'strict'));
  await waitFor(
    () =>
      rec.keys('kube:Gateway').length === 1 &&
      rec.keys('kube:AuthorizationPolicy').length === 1 &&
      rec.keys('kube:PeerAuthentication').length === 1,
    { ...WAIT, what: 'CRD kinds flowing' },
  );
  t.same(rec.keys('kube:Gateway'), ['istio-gateways/peer-b']);
  // The list hands its items to the sink before the watch request is answered (pkg/kube/reflector.ts: 'watching'
  // is set once the watch stream opens), so the gateway can be seen while its reflector is still 'listing'.
  const gatewayState = (): string | undefined => source.status().find((s) => s.kind === 'Gateway')?.state;
  await waitFor(() => gatewayState() === 'watching', { ...WAIT, what: 'the Gateway watch open' }).catch(
    () => undefined,
  );
  const states = Object.fromEntries(source.status().map((s) => [s.kind, s.state]));
  t.equal(states.Gateway, 'watching');
  t.equal(store.snapshot().gateways.size, 1, 'store took the gateway');
});

t.test('add, update and delete of every kind', { skip }, async (t) => {
  const objs = [
    k.ns('extra', { a: '1' }),
    k.node('node-2', '192.0.2.2', { a: '1' }),
    k.service('apps', 'api', 'api', { a: '1' }),
    k.endpointSlice('apps', 'api-x1', 'api', '10.1.1.1'),
    k.pod('apps', 'api-0', 'api', 'node-2', { a: '1' }),
    k.remoteGateway('istio-gateways', 'peer-c', '198.51.100.8'),
    k.authorizationPolicy('apps', 'allow-c', 'api'),
    k.peerAuthentication('extra', 'strict'),
  ];
  const id = (o: Record<string, unknown>) => {
    const m = o.metadata as { namespace?: string; name: string };
    return [`kube:${String(o.kind)}`, `${m.namespace ?? ''}/${m.name}`] as const;
  };
  for (const o of objs) await k.apply(admin, o);
  await waitFor(() => objs.every((o) => rec.get(...id(o))), { ...WAIT, what: 'all added' });
  t.pass('added: every kind arrived');
  for (const o of objs) {
    const m = o.metadata as Record<string, unknown>;
    await k.apply(admin, { ...o, metadata: { ...m, labels: { ...(m.labels as object), updated: 'yes' } } });
  }
  const labelled = (o: Record<string, unknown>) =>
    ((rec.get(...id(o))?.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {}).updated === 'yes';
  await waitFor(() => objs.every(labelled), { ...WAIT, what: 'all updated' });
  t.pass('updated: every kind carries the new label');
  for (const o of objs.slice().reverse()) await k.remove(admin, o);
  // Namespace deletion needs the namespace controller to finish; its Terminating update is what we can see.
  const gone = (o: Record<string, unknown>) =>
    o.kind === 'Namespace'
      ? !!(rec.get(...id(o))?.metadata as { deletionTimestamp?: string })?.deletionTimestamp || !rec.get(...id(o))
      : !rec.get(...id(o));
  await waitFor(() => objs.every(gone), { ...WAIT, what: 'all deleted' });
  t.pass('deleted: every kind removed (namespace marked terminating)');
  t.same(store.snapshot().rejected, []);
});

t.test('apiserver restart mid-watch: resumes, no lost or duplicated change', { skip }, async (t) => {
  const before = rec.changes.length;
  const t0 = performance.now();
  await cluster.restartApiserver();
  t.comment(`apiserver restarted in ${Math.round(performance.now() - t0)} ms`);
  await k.apply(admin, k.service('apps', 'after-restart', 'x'));
  await k.setPodRunning(admin, await k.apply(admin, k.pod('apps', 'after-restart', 'x', 'node-1')), '10.1.2.1');
  await waitFor(
    () =>
      rec.get('kube:Service', 'apps/after-restart') &&
      (rec.get('kube:Pod', 'apps/after-restart')?.status as { podIP?: string })?.podIP === '10.1.2.1',
    { ...WAIT, what: 'changes after restart' },
  );
  const after = rec.changes.slice(before);
  const keys = after.map((c) => `${c.sourceId} ${c.type} ${c.key}`);
  // Only what changed, each at most once per real change: a pod's create and its status update are two changes.
  t.same(
    [...new Set(keys)].sort(),
    ['kube:Pod upsert apps/after-restart', 'kube:Service upsert apps/after-restart'],
    'nothing else re-emitted after the restart',
  );
  t.ok(keys.filter((x) => x.includes('kube:Service')).length === 1, 'service change emitted once');
  t.ok(keys.filter((x) => x.includes('kube:Pod')).length <= 2, 'pod create + status at most');
});

t.test('etcd compaction while disconnected → 410 → relist with only the real differences', { skip }, async (t) => {
  for (let i = 0; i < 3; i++)
    await k.setPodRunning(admin, await k.apply(admin, k.pod('apps', `c-${i}`, 'c', 'node-1')), `10.1.3.${i}`);
  // Wait for the status updates too, so no event from before the cut is still in flight.
  const running = (key: string) => (rec.get('kube:Pod', key)?.status as { podIP?: string } | undefined)?.podIP;
  await waitFor(() => [0, 1, 2].every((i) => running(`apps/c-${i}`)), { ...WAIT, what: 'c pods running' });
  const podReflector = () => source.status().find((s) => s.kind === 'Pod')!;
  const gones = podReflector().relistsGone;
  proxy.cut(true);
  const mark = rec.changes.length;
  await k.setPodRunning(admin, await k.apply(admin, k.pod('apps', 'c-new', 'c', 'node-1')), '10.1.3.9');
  await k.apply(admin, {
    ...k.pod('apps', 'c-1', 'c', 'node-1'),
    metadata: { name: 'c-1', namespace: 'apps', labels: { app: 'c', v: '2' } },
  });
  await k.remove(admin, k.pod('apps', 'c-2', 'c', 'node-1'));
  // Churn on another kind so the compaction revision is past every pod change.
  await k.apply(admin, k.service('apps', 'churn', 'c'));
  const rev = await cluster.compactEtcd();
  t.ok(rev > 0, `etcd compacted at revision ${rev}`);
  proxy.cut(false);
  await waitFor(() => podReflector().relistsGone > gones, { ...WAIT, what: '410 relist' });
  await waitFor(() => rec.get('kube:Pod', 'apps/c-new') && !rec.get('kube:Pod', 'apps/c-2'), {
    ...WAIT,
    what: 'pods converged',
  }).catch((e: unknown) => {
    t.comment(JSON.stringify({ status: podReflector(), pods: rec.keys('kube:Pod'), changes: rec.changes.slice(mark) }));
    throw e;
  });
  const podChanges = rec.changes
    .slice(mark)
    .filter((c) => c.sourceId === 'kube:Pod')
    .map((c) => `${c.type} ${c.key}`);
  t.same(
    podChanges.sort(),
    ['delete apps/c-2', 'upsert apps/c-1', 'upsert apps/c-new'],
    'exactly the three real differences, once each',
  );
  const truth = await admin.json<{ items: { metadata: { namespace: string; name: string } }[] }>('GET', '/api/v1/pods');
  t.same(
    rec.keys('kube:Pod'),
    truth.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(),
    'recorder equals the API server',
  );
});

/** TokenRequest's default audience is the API server's own (the issuer). */
function k8sAudience(): string {
  return 'https://kubernetes.default.svc.cluster.local';
}
