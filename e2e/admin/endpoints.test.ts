import t from 'tap';
import * as http from 'node:http';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { adminWithLogger, createAdmin } from '../../pkg/admin';
import { createRootLogger } from '../../pkg/log';
import { startDaemon } from '../harness/daemon-fixture';
import { BAD_SERVICE, Capture, MESH, adminOf, get, stubPeering } from './helpers';

type Obj = Record<string, unknown>;

t.test('every debug endpoint against a live daemon with a connected ztunnel', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH, 'bad.yaml': BAD_SERVICE }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  const admin = adminOf(f.daemon);
  t.ok(admin.metricsPort > 0 && admin.debugPort > 0, 'both ports bound');
  t.not(admin.metricsPort, admin.debugPort);
  const port = admin.debugPort;

  const z = f.ztunnel();
  z.connect();
  await z.until(
    () => z.held(TYPE_ADDRESS).has('c1//Pod/default/web-1') && z.received.some((r) => r.typeUrl === TYPE_AUTHORIZATION),
    'initial sync',
  );

  t.test('/ready and /healthz', async (t) => {
    const r = await get(port, '/ready');
    t.equal(r.status, 200);
    t.same(r.json(), { ready: true, reasons: [] });
    const h = await get(port, '/healthz');
    t.equal(h.status, 200);
    t.equal(h.json().status, 'ok');
    t.type(h.json().uptimeSeconds, 'number');
  });

  t.test('/debug/registryz lists local objects and rejections with reasons', async (t) => {
    const r = (await get(port, '/debug/registryz')).json<{
      counts: Obj;
      services: Obj[];
      workloads: Obj[];
      policies: Obj[];
      rejected: { kind: string; key: string; reason: string }[];
    }>();
    t.same(
      r.services.map((s) => s.key),
      ['default/web'],
    );
    t.same(
      r.workloads.map((w) => w.key),
      ['default/web-1', 'default/web-2'],
      'sorted by key',
    );
    t.same(
      r.policies.map((p) => p.key),
      ['default/allow-web'],
    );
    t.equal(r.counts.pods, 2);
    const bad = r.rejected.find((x) => x.key === 'default/broken');
    t.ok(bad, 'the broken service is listed as rejected');
    t.equal(bad!.kind, 'Service');
    t.ok(bad!.reason.length > 0, `reason given: ${bad?.reason}`);
  });

  t.test('/debug/configz is the effective config', async (t) => {
    const r = (await get(port, '/debug/configz')).json<{ config: Obj; grpcPort: number }>();
    t.equal(r.config.clusterId, 'c1');
    t.equal((r.config.admin as Obj).debugListen, '127.0.0.1:0');
    t.equal(r.grpcPort, f.daemon.grpcPort);
  });

  t.test('/debug/syncz: node id, identity, per type nonces sent and ACKed', async (t) => {
    await z.until(async () => {
      const s = (await get(port, '/debug/syncz')).json<{ streams: { inSync: boolean }[] }>();
      return s.streams.length === 1 && s.streams[0]!.inSync;
    }, 'stream in sync');
    const s = (await get(port, '/debug/syncz')).json<{ cacheSeq: number; streams: Obj[] }>();
    const st = s.streams[0]!;
    t.equal(st.nodeId, z.nodeId);
    t.equal(st.kind, 'ztunnel');
    t.equal((st.identity as Obj).spiffeId, 'spiffe://cluster.local/ns/istio-system/sa/ztunnel');
    t.equal(st.pendingCommits, 0);
    const types = st.types as Obj[];
    t.same(
      types.map((x) => x.typeUrl),
      [TYPE_ADDRESS, TYPE_AUTHORIZATION],
    );
    for (const ty of types) {
      t.ok(ty.lastNonceSent, 'a nonce was sent');
      t.equal(ty.lastNonceAcked, ty.lastNonceSent, 'and ACKed');
      t.equal(ty.lastNack, null);
      t.equal(ty.wildcard, true);
    }
    const lastAddrNonce = z.received.filter((r) => r.typeUrl === TYPE_ADDRESS).at(-1)!.nonce;
    t.equal(types[0]!.lastNonceSent, lastAddrNonce, 'matches what the client received');
  });

  t.test("/debug/config_dump?node= has ztunnel's shape and equals what the client holds", async (t) => {
    const r = await get(port, `/debug/config_dump?node=${encodeURIComponent(z.nodeId)}`);
    t.equal(r.status, 200);
    const d = r.json<{ workloads: Obj[]; services: Obj[]; policies: Obj[]; ambientd: Obj }>();
    t.same(
      d.workloads.map((w) => w.uid),
      ['c1//Pod/default/web-1', 'c1//Pod/default/web-2'],
      'sorted by uid',
    );
    const w1 = d.workloads[0]!;
    t.same(w1.workloadIps, ['10.0.0.5']);
    t.equal(w1.protocol, 'HBONE');
    t.equal(w1.status, 'Healthy');
    t.equal(w1.namespace, 'default');
    t.equal(w1.serviceAccount, 'web');
    t.equal(w1.node, 'node-1');
    t.same(w1.services, ['default/web.default.svc.cluster.local']);
    t.equal(w1.capacity, 1);
    const svc = d.services.find((s) => s.hostname === 'web.default.svc.cluster.local')!;
    t.ok(svc, 'service present');
    t.ok(
      (svc.vips as string[]).every((v) => /^[^/]*\/10\.96\.0\.10$/.test(v)),
      `vips are network/ip: ${JSON.stringify(svc.vips)}`,
    );
    t.same(svc.ports, { 80: 8080 });
    t.same(Object.keys(svc.endpoints as Obj).sort(), ['c1//Pod/default/web-1', 'c1//Pod/default/web-2']);
    t.same((svc.endpoints as Record<string, Obj>)['c1//Pod/default/web-1'], {
      workloadUid: 'c1//Pod/default/web-1',
      service: 'default/web.default.svc.cluster.local',
      port: { 80: 8080 },
      status: 'Healthy',
    });
    t.ok(
      d.policies.some((p) => p.name === 'allow-web' && p.namespace === 'default' && p.action === 'Allow'),
      'policy present',
    );
    t.equal(d.ambientd.inSync, true);
    t.equal(d.ambientd.complete, true);
    // Independent oracle: the client's own decoded state.
    const held = [...z.held(TYPE_ADDRESS).keys()].sort();
    const dumped = [
      ...d.workloads.map((w) => w.uid as string),
      ...d.services.map((s) => `${String(s.namespace)}/${String(s.hostname)}`),
    ].sort();
    t.same(dumped, held, 'same Address names as the ztunnel holds');
    const heldPolicies = [...z.held(TYPE_AUTHORIZATION).keys()].sort();
    t.same(
      d.policies.map((p) => `${String(p.namespace)}/${String(p.name)}`).sort(),
      heldPolicies,
      'same Authorization names',
    );
    t.equal((await get(port, '/debug/config_dump?node=nope')).status, 404);
    t.equal((await get(port, '/debug/config_dump?node=')).status, 400);
    const all = (await get(port, '/debug/config_dump')).json<{ workloads: Obj[] }>();
    t.equal(all.workloads.length, 2, 'without node: the whole served view');
  });

  t.test('/debug/peers without a peering layer', async (t) => {
    const r = (await get(port, '/debug/peers')).json<Obj>();
    t.equal(r.enabled, false);
    t.same(r.peers, []);
  });

  t.test('/debug/certz: CA material and the serving chain, no key', async (t) => {
    const r = await get(port, '/debug/certz');
    const c = r.json<{ ca: Obj; serving: { chain: Obj[] } }>();
    t.equal(c.ca.trustDomain, 'cluster.local');
    t.equal((c.ca.roots as Obj[]).length, 1);
    t.ok((c.ca.expiresInSeconds as number) > 30 * 86400, 'self-signed root is long-lived');
    t.ok(((c.ca.issued as Obj).servingCertificates as number) >= 1);
    t.ok(c.serving.chain.length >= 1);
    t.match(c.serving.chain[0]!.subjectAltName, /spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod/);
    t.notMatch(r.body, /PRIVATE KEY/);
    t.notMatch(r.body, /BEGIN/);
  });

  t.test('/debug/connections', async (t) => {
    const c = (await get(port, '/debug/connections')).json<{ total: number; byKind: Obj; xds: Obj[] }>();
    t.equal(c.total, 1);
    t.same(c.byKind, { ztunnel: 1 });
    t.equal(c.xds[0]!.nodeId, z.nodeId);
  });

  t.test('/debug/jwks and /.well-known/jwks.json: public keys only', async (t) => {
    for (const p of ['/debug/jwks', '/.well-known/jwks.json']) {
      const j = (await get(port, p)).json<{ keys: Obj[] }>();
      t.equal(j.keys.length, 1, p);
      t.equal(j.keys[0]!.kty, 'EC');
      t.notOk('d' in j.keys[0]!, 'no private component');
    }
  });

  t.test('/metrics on its own port', async (t) => {
    const m = await get(admin.metricsPort, '/metrics');
    t.equal(m.status, 200);
    t.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    t.match(m.body, /^pilot_xds\{/m);
    t.match(m.body, /^citadel_server_root_cert_expiry_timestamp \d/m);
    t.equal((await get(admin.debugPort, '/metrics')).status, 404, 'not on the debug port');
    t.equal((await get(admin.metricsPort, '/debug/syncz')).status, 404, 'debug not on the metrics port');
  });
});

t.test('a NACK shows up in syncz with its reason', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  const z = f.ztunnel({
    validate: (typeUrl) => (typeUrl === TYPE_AUTHORIZATION ? 'policy refused by test' : undefined),
  });
  z.connect();
  const port = adminOf(f.daemon).debugPort;
  const st = await z.until(async () => {
    const s = (await get(port, '/debug/syncz')).json<{
      streams: { types: { typeUrl: string; lastNack: Obj | null; acked: boolean }[] }[];
    }>();
    return s.streams[0]?.types.find((x) => x.typeUrl === TYPE_AUTHORIZATION && x.lastNack);
  }, 'NACK visible');
  if (!st) throw new Error('unreachable: waitFor returned a falsy value');
  t.match(st.lastNack!.message, /policy refused by test/);
  t.equal(st.acked, false, 'the latest push is not ACKed');
});

t.test(
  '/ready is 503 with the reason until persisted peer state is restored; /debug/peers normalises conditions',
  async (t) => {
    const peering = stubPeering(
      [
        {
          name: 'istio-remote-peer-c2',
          cluster: 'c2',
          network: 'net2',
          address: '127.0.0.9:15012',
          conditions: [
            { type: 'Connected', status: 'True', reason: 'StreamUp' },
            { type: 'Synced', status: 'True', reason: 'InitialSyncDone' },
            { type: 'DataPlaneProgrammed', status: 'False', reason: 'NoGateway', message: 'no HBONE listener' },
          ],
          lastSyncAt: Date.now(),
          resources: { FederatedService: 3 },
        },
      ],
      false,
    );
    const f = await startDaemon({
      files: { 'mesh.yaml': MESH },
      deps: { admin: createAdmin, peering: peering.factory },
    });
    t.teardown(() => f.close());
    const port = adminOf(f.daemon).debugPort;
    const r = await get(port, '/ready');
    t.equal(r.status, 503);
    t.same(r.json(), { ready: false, reasons: ['persisted peer state not restored'] });
    peering.restored = true;
    t.equal((await get(port, '/ready')).status, 200);
    const p = (await get(port, '/debug/peers')).json<{ enabled: boolean; peers: Obj[] }>();
    t.equal(p.enabled, true);
    t.equal(p.peers.length, 1);
    const peer = p.peers[0]!;
    t.equal(peer.name, 'istio-remote-peer-c2');
    t.equal(peer.cluster, 'c2');
    t.same((peer.conditions as Obj).Connected, {
      status: 'True',
      reason: 'StreamUp',
      message: '',
      lastTransitionTime: null,
    });
    t.equal((peer.conditions as Record<string, Obj>).DataPlaneProgrammed!.status, 'False');
    t.same(peer.resources, { FederatedService: 3 });
    t.equal(peer.stale, false);
    t.same(peer.conflicts, []);
    const c = (await get(port, '/debug/connections')).json<{ peers: Obj[] }>();
    t.same(c.peers, [{ peer: 'istio-remote-peer-c2', address: '127.0.0.9:15012', connected: true }]);
  },
);

t.test('an internal error is logged in full and answered opaquely', async (t) => {
  const cap = new Capture();
  const logger = createRootLogger({ level: 'info', destination: cap.stream });
  const f = await startDaemon({
    files: { 'mesh.yaml': MESH },
    deps: {
      // The real daemon, seen through a view whose CA info() fails.
      admin: (d) =>
        adminWithLogger(logger)(
          Object.create(d, {
            authority: {
              value: {
                info: () => {
                  throw new Error('boom at /internal/path');
                },
              },
            },
          }) as typeof d,
        ),
    },
  });
  t.teardown(() => f.close());
  const r = await get(adminOf(f.daemon).debugPort, '/debug/certz');
  t.equal(r.status, 500);
  t.same(r.json(), { error: 'internal error' });
  t.match(cap.text, /admin request failed/);
  t.match(cap.text, /boom at \/internal\/path/);
  t.equal((await get(adminOf(f.daemon).debugPort, '/debug/syncz')).status, 200, 'other endpoints unaffected');
});

t.test('close() is idempotent and does not wait for an idle keep-alive client; the ports are released', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  const admin = adminOf(f.daemon);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  t.equal((await get(admin.debugPort, '/healthz', {}, agent)).status, 200);
  t.equal((await get(admin.metricsPort, '/metrics', {}, agent)).status, 200);
  await Promise.all([admin.close(), admin.close()]);
  const refused = await get(admin.debugPort, '/healthz').then(
    () => 'answered',
    (e: unknown) => (e as NodeJS.ErrnoException).code,
  );
  t.equal(refused, 'ECONNREFUSED', 'debug port closed');
  const refusedM = await get(admin.metricsPort, '/metrics').then(
    () => 'answered',
    (e: unknown) => (e as NodeJS.ErrnoException).code,
  );
  t.equal(refusedM, 'ECONNREFUSED', 'metrics port closed');
});

t.test('destroy() drops open connections at once; a later close() resolves', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  const admin = adminOf(f.daemon);
  // A request that never completes: headers sent, body never finished.
  const hung = http.request({
    host: '127.0.0.1',
    port: admin.debugPort,
    method: 'POST',
    path: '/debug/syncz',
    agent: false,
    headers: { 'content-length': '100' },
  });
  const ended = new Promise<string>((resolve) => {
    hung.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    hung.on('response', () => resolve('response'));
  });
  const connected = new Promise<void>((resolve) => hung.on('socket', (s) => s.on('connect', () => resolve())));
  hung.write('x');
  await connected;
  // Connections are accepted in order: once a later one is answered, the server tracks the hung one.
  t.equal((await get(admin.debugPort, '/healthz')).status, 200);
  admin.destroy();
  t.match(await ended, /ECONNRESET|socket hang up|response/, 'the hung request is cut off');
  await admin.close();
  const refused = await get(admin.debugPort, '/healthz').then(
    () => 'answered',
    (e: unknown) => (e as NodeJS.ErrnoException).code,
  );
  t.equal(refused, 'ECONNREFUSED');
});
