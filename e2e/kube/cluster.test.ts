/**
 * deploy/kubernetes against a real kube-apiserver: manifests accepted by
 * server-side apply and least-privilege as written; RBAC denial reported
 * clearly and recovered from; peer status written back by the Lease holder
 * only, not rewritten when unchanged; projected tokens verified through the
 * API server's issuer discovery + JWKS (pkg/auth's verifier), forged ones refused.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import t from 'tap';
import { Registry } from 'prom-client';
import { RefreshingKeySet, TokenAuthenticator } from '../../pkg/auth';
import {
  createKubeMetrics,
  type KubeApi,
  GatewayStatusWriter,
  KINDS,
  KubeJwksProvider,
  LeaderElector,
  Reflector,
  type PeerGatewayStatus,
} from '../../pkg/kube';
import { captureLogger, RecordingSink } from '../../pkg/kube/testing';
import { createSilentLogger } from '../../pkg/log';
import { waitFor } from '../../pkg/lifecycle';
import { findBinaries, ISSUER, REPO_ROOT, TestCluster } from './harness';
import * as k from './objects';

const bins = findBinaries();
const skip = typeof bins === 'string' ? bins : false;
const WAIT = { timeoutMs: 45_000, intervalMs: 20 };
// Starting etcd + kube-apiserver on a shared 2-core machine can take a while: raise tap's 30 s file timeout.
if (!skip) t.setTimeout(300_000);
const DEPLOY = path.join(REPO_ROOT, 'deploy/kubernetes');

type Obj = Record<string, unknown>;

// Set by t.before (definite assignment: every test below is skipped when it did not run).
let cluster!: TestCluster;
let admin!: KubeApi;
/** The istiod ServiceAccount's token (set by the manifests test; later tests run as the daemon). */
let daemonToken = '';

t.before(async () => {
  if (typeof bins === 'string') return;
  cluster = await TestCluster.start(bins);
  admin = cluster.adminClient();
});
t.teardown(async () => {
  await cluster?.stop();
});

t.test('manifests are accepted by server-side apply and grant exactly what the daemon uses', { skip }, async (t) => {
  const applied: Obj[] = [];
  for (const f of ['00-namespace.yaml', '10-rbac.yaml', '20-deployment.yaml', '30-service.yaml'])
    applied.push(...(await k.applyFile(admin, path.join(DEPLOY, f))));
  t.same(
    applied.map((o) => `${String(o.kind)}/${String((o.metadata as Obj).name)}`),
    [
      'Namespace/istio-system',
      'ServiceAccount/istiod',
      'ClusterRole/ambientd',
      'ClusterRoleBinding/ambientd',
      'Role/ambientd-leader-election',
      'RoleBinding/ambientd-leader-election',
      'Deployment/istiod',
      'Service/istiod',
    ],
  );
  t.ok(
    applied.every((o) => (o.metadata as Obj).uid),
    'every object stored',
  );
  const svc = applied.find((o) => o.kind === 'Service')!;
  t.same(
    ((svc.spec as Obj).ports as { port: number }[]).map((p) => p.port),
    [15012, 15014],
  );
  const pod = ((applied.find((o) => o.kind === 'Deployment')!.spec as Obj).template as Obj).spec as Obj;
  const c = (pod.containers as Obj[])[0]!;
  t.equal((pod.securityContext as Obj).runAsNonRoot, true, 'non-root');
  t.equal((c.securityContext as Obj).readOnlyRootFilesystem, true, 'read-only root filesystem');
  t.ok(
    (pod.volumes as Obj[]).some((v) => (v.secret as Obj | undefined)?.secretName === 'cacerts'),
    'cacerts secret volume',
  );
  t.ok(
    (pod.volumes as Obj[]).some((v) => v.name === 'state' && v.emptyDir),
    'state on an emptyDir',
  );

  daemonToken = await k.requestToken(admin, 'istio-system', 'istiod', { audiences: [ISSUER] });
  const daemon = cluster.client(cluster.tokenConfig(daemonToken));
  const can = async (attrs: Obj) => {
    const r = await daemon.json<{ status: { allowed: boolean } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      {
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: attrs },
      },
    );
    return r.status.allowed;
  };
  const res = (verb: string, resource: string, group = '', extra: Obj = {}) => ({
    resourceAttributes: { verb, resource, group, ...extra },
  });
  for (const [verb, r, g] of [
    ['watch', 'pods', ''],
    ['list', 'nodes', ''],
    ['watch', 'endpointslices', 'discovery.k8s.io'],
    ['list', 'gateways', 'gateway.networking.k8s.io'],
    ['watch', 'authorizationpolicies', 'security.istio.io'],
    ['watch', 'customresourcedefinitions', 'apiextensions.k8s.io'],
  ] as const)
    t.ok(await can(res(verb, r, g)), `may ${verb} ${r}`);
  t.ok(
    await can(res('patch', 'gateways', 'gateway.networking.k8s.io', { subresource: 'status' })),
    'may patch gateways/status',
  );
  t.ok(
    await can(res('update', 'leases', 'coordination.k8s.io', { namespace: 'istio-system' })),
    'may update leases in istio-system',
  );
  t.notOk(await can(res('update', 'leases', 'coordination.k8s.io', { namespace: 'default' })), 'no leases elsewhere');
  t.notOk(await can(res('patch', 'gateways', 'gateway.networking.k8s.io')), 'no writes to gateway spec');
  t.notOk(await can(res('get', 'secrets')), 'no secrets');
  t.notOk(await can(res('create', 'tokenreviews', 'authentication.k8s.io')), 'no tokenreviews');
  t.ok(await can({ nonResourceAttributes: { path: '/openid/v1/jwks', verb: 'get' } }), 'may read the JWKS');
});

t.test('RBAC denial → an error naming verb, resource and API group; recovers once granted', { skip }, async (t) => {
  const nobody = cluster.client(cluster.certConfig('nobody'));
  const cap = captureLogger();
  const sink = new RecordingSink();
  const r = new Reflector({
    api: nobody,
    kind: KINDS.EndpointSlice!,
    sink,
    logger: cap.logger,
    backoff: { initialMs: 200, maxMs: 1000 },
  });
  t.teardown(() => r.close());
  r.start();
  const denial = () => cap.lines().find((l) => l.level === 50 && String(l.msg).startsWith('RBAC'));
  await waitFor(denial, { ...WAIT, what: 'RBAC error logged' });
  const d = denial()!;
  t.match(d.msg, 'may not list endpointslices in API group "discovery.k8s.io"');
  t.same([d.verb, d.resource, d.apiGroup], ['list', 'endpointslices', 'discovery.k8s.io']);
  t.match(String(d.err), /forbidden/i, "the API server's own reason is kept");
  t.match(r.status().lastError, 'missing permission "list" on resource "endpointslices"');
  t.equal(r.status().state, 'forbidden');
  await k.apply(admin, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'e2e-nobody' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ambientd' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'e2e-nobody' }],
  });
  await waitFor(() => r.synced, { ...WAIT, what: 'listed after the grant' });
  await waitFor(() => r.status().state === 'watching', { ...WAIT, what: 'watching after the grant' });
  t.pass('watching: no restart needed');
});

t.test(
  'peer status: written by the Lease holder only, kept upstream conditions, not rewritten when unchanged',
  { skip },
  async (t) => {
    await k.applyFile(admin, path.join(REPO_ROOT, 'e2e/kube/fixtures/crds.yaml'));
    await k.waitCrdsEstablished(admin, ['gateways.gateway.networking.k8s.io']);
    await k.apply(admin, k.ns('istio-gateways'));
    const gw = await k.apply(admin, k.remoteGateway('istio-gateways', 'peer-b', '198.51.100.7'));
    const gwPath = k.objectPath(gw) + '/status';
    // What upstream istiod writes on every istio-remote Gateway.
    const upstream = [
      {
        type: 'Accepted',
        status: 'True',
        reason: 'Accepted',
        message: 'Resource accepted',
        lastTransitionTime: '2026-01-01T00:00:00Z',
        observedGeneration: 1,
      },
      {
        type: 'Programmed',
        status: 'True',
        reason: 'Programmed',
        message: 'This Gateway is remote; Istio will not program it',
        lastTransitionTime: '2026-01-01T00:00:00Z',
        observedGeneration: 1,
      },
    ];
    await admin.json('PATCH', gwPath, {
      body: { status: { conditions: upstream } },
      contentType: 'application/merge-patch+json',
    });

    let peers: PeerGatewayStatus[] = [
      {
        gatewayNamespace: 'istio-gateways',
        gatewayName: 'peer-b',
        generation: 1,
        conditions: [
          { type: 'gloo.solo.io/PeerConnected', status: 'True', reason: 'Connected', message: 'xDS stream up' },
          {
            type: 'gloo.solo.io/PeeringSucceeded',
            status: 'Unknown',
            reason: 'Pending',
            message: 'network not yet synced',
          },
          {
            type: 'gloo.solo.io/PeerDataPlaneProgrammed',
            status: 'True',
            reason: 'Programmed',
            message: 'HBONE listener present',
          },
        ],
      },
    ];
    const listeners = new Set<() => void>();
    const provider = { peers: () => peers, onChange: (cb: () => void) => listeners.add(cb) };
    const daemon = cluster.client(cluster.tokenConfig(daemonToken));
    const replicas = ['replica-a', 'replica-b'].map((identity) => {
      const registry = new Registry();
      const metrics = createKubeMetrics(registry);
      const elector = new LeaderElector({
        api: daemon,
        namespace: 'istio-system',
        name: 'ambientd-status',
        identity,
        logger: createSilentLogger(),
        metrics,
      });
      const writer = new GatewayStatusWriter({
        api: daemon,
        provider,
        election: elector,
        logger: createSilentLogger(),
        metrics,
        debounceMs: 10,
      });
      return {
        identity,
        registry,
        elector,
        writer,
        written: async () =>
          (await registry.getSingleMetricAsString('ambientd_kube_gateway_status_writes_total')).match(
            /result="written"} (\d+)/,
          )?.[1] ?? '0',
      };
    });
    t.teardown(async () => {
      for (const r of replicas) {
        await r.writer.close();
        await r.elector.close();
      }
    });
    for (const r of replicas) {
      await r.writer.start();
      await r.elector.start();
    }
    await waitFor(() => replicas.some((r) => r.elector.isLeader()), { ...WAIT, what: 'a leader' });
    const leader = replicas.find((r) => r.elector.isLeader())!;
    const follower = replicas.find((r) => r !== leader)!;
    t.notOk(follower.elector.isLeader(), 'exactly one leader');
    const lease = await admin.json<{ spec: { holderIdentity: string; leaseDurationSeconds: number } }>(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/istio-system/leases/ambientd-status',
    );
    t.equal(lease.spec.holderIdentity, leader.identity);
    t.equal(lease.spec.leaseDurationSeconds, 15);

    type Cond = {
      type: string;
      status: string;
      reason: string;
      lastTransitionTime: string;
      observedGeneration: number;
    };
    const read = async () =>
      admin.json<{ metadata: { resourceVersion: string }; status: { conditions: Cond[] } }>('GET', gwPath);
    await waitFor(async () => (await read()).status.conditions.length === 5, { ...WAIT, what: 'conditions written' });
    const first = await read();
    const byType = Object.fromEntries(first.status.conditions.map((c) => [c.type, c]));
    t.same(byType.Accepted, upstream[0], 'upstream Accepted kept verbatim');
    t.same(byType.Programmed, upstream[1], 'upstream Programmed kept verbatim');
    t.equal(byType['gloo.solo.io/PeerConnected']!.status, 'True');
    t.equal(byType['gloo.solo.io/PeeringSucceeded']!.status, 'Unknown');
    t.equal(byType['gloo.solo.io/PeerConnected']!.observedGeneration, 1);
    // The apiserver shows the PATCH before the writer has handled its response
    // (and counted it): wait for the count to move, then check its exact value.
    await waitFor(async () => (await leader.written()) !== '0', { ...WAIT, what: 'first write counted' });
    t.equal(await leader.written(), '1');
    t.equal(await follower.written(), '0', 'the follower never wrote');

    // Same conditions again: no PATCH, resourceVersion untouched.
    for (const cb of listeners) cb();
    await leader.writer.reconcile();
    t.equal((await read()).metadata.resourceVersion, first.metadata.resourceVersion, 'unchanged status not rewritten');
    t.equal(await leader.written(), '1');

    // One condition changes: one write; the unchanged ones keep their lastTransitionTime.
    peers = [
      {
        ...peers[0]!,
        conditions: peers[0]!.conditions.map((c) =>
          c.type === 'gloo.solo.io/PeeringSucceeded'
            ? { ...c, status: 'True' as const, reason: 'Synced', message: 'synced' }
            : c,
        ),
      },
    ];
    for (const cb of listeners) cb();
    await waitFor(
      async () =>
        (await read()).status.conditions.find((c) => c.type === 'gloo.solo.io/PeeringSucceeded')?.status === 'True',
      { ...WAIT, what: 'changed condition written' },
    );
    const second = Object.fromEntries((await read()).status.conditions.map((c) => [c.type, c]));
    t.equal(
      second['gloo.solo.io/PeerConnected']!.lastTransitionTime,
      byType['gloo.solo.io/PeerConnected']!.lastTransitionTime,
      'unchanged condition keeps its transition time',
    );
    await waitFor(async () => (await leader.written()) !== '1', { ...WAIT, what: 'second write counted' });
    t.equal(await leader.written(), '2');

    // The leader steps down (releasing the lease); the other replica takes over.
    await leader.writer.close();
    await leader.elector.close();
    await waitFor(() => follower.elector.isLeader(), { ...WAIT, what: 'failover' });
    t.pass(`${follower.identity} took over after ${leader.identity} released the lease`);
    peers = [
      {
        ...peers[0]!,
        conditions: peers[0]!.conditions.map((c) =>
          c.type === 'gloo.solo.io/PeerConnected'
            ? { ...c, status: 'False' as const, reason: 'Pending', message: 'not connected to peer' }
            : c,
        ),
      },
    ];
    for (const cb of listeners) cb();
    await waitFor(
      async () =>
        (await read()).status.conditions.find((c) => c.type === 'gloo.solo.io/PeerConnected')?.status === 'False',
      { ...WAIT, what: 'new leader writes' },
    );
    await waitFor(async () => (await follower.written()) !== '0', { ...WAIT, what: 'new leader write counted' });
    t.equal(await follower.written(), '1', 'the new leader wrote the change');
  },
);

t.test('projected token verified via issuer discovery + JWKS; forged ones refused', { skip }, async (t) => {
  await k.apply(admin, k.ns('apps'));
  await k.apply(admin, k.node('node-1', '192.0.2.1'));
  await k.apply(admin, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'ztunnel', namespace: 'istio-system' },
  });
  const p = await k.apply(admin, {
    ...k.pod('istio-system', 'ztunnel-abc', 'ztunnel', 'node-1'),
    spec: { nodeName: 'node-1', serviceAccountName: 'ztunnel', containers: [{ name: 'z', image: 'z' }] },
  });
  const meta = p.metadata as { name: string; uid: string };
  const token = await k.requestToken(admin, 'istio-system', 'ztunnel', {
    audiences: ['istio-ca'],
    pod: { name: meta.name, uid: meta.uid },
  });

  const daemon = cluster.client(cluster.tokenConfig(daemonToken));
  const provider = await KubeJwksProvider.create(daemon, { logger: createSilentLogger() });
  t.equal(provider.issuer, ISSUER, 'issuer discovered from the API server');
  const keys = await provider.getKeys();
  t.ok(keys.length >= 1 && keys.every((j) => j.kty === 'RSA' && !('d' in j)), 'public signing keys only');

  const keySet = new RefreshingKeySet({
    loader: async () => {
      await provider.refresh();
      return { keys: await provider.getKeys() };
    },
    source: 'kube-apiserver',
    logger: createSilentLogger(),
  });
  const auth = new TokenAuthenticator({
    issuers: [{ issuer: provider.issuer, keys: keySet, method: 'jwt', audiences: ['istio-ca'] }],
    trustDomain: 'cluster.local',
  });
  const id = await auth.verify(token);
  t.equal(id.spiffeId, 'spiffe://cluster.local/ns/istio-system/sa/ztunnel');
  t.equal(id.podName, 'ztunnel-abc', 'pod claim');
  t.equal(id.nodeName, 'node-1', 'node claim (for node-scoped impersonation)');

  const [h, b] = token.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string };
  const payload = JSON.parse(Buffer.from(b, 'base64url').toString()) as Obj;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sign = (hdr: Obj, pl: Obj) => {
    const b64 = (o: Obj): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${b64(hdr)}.${b64(pl)}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  };
  await t.rejects(auth.verify(sign({ alg: 'RS256', kid: header.kid }, payload)), 'same kid, foreign key: refused');
  await t.rejects(
    auth.verify(sign({ alg: 'RS256', kid: 'made-up' }, payload)),
    'unknown kid (forces a JWKS refresh): refused',
  );
  const changed = { ...payload, sub: 'system:serviceaccount:istio-system:istiod' };
  const tampered = `${h}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${token.split('.')[2]}`;
  await t.rejects(auth.verify(tampered), 'real signature over a changed subject: refused');
  const wrongAud = await k.requestToken(admin, 'istio-system', 'ztunnel', { audiences: ['not-istio-ca'] });
  await t.rejects(auth.verify(wrongAud), 'genuine token for another audience: refused');
});
