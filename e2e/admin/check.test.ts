import t from 'tap';
import * as net from 'node:net';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { createAdmin } from '../../pkg/admin';
import { checkArgsFromFlags, checkCommand, evaluate, type CheckDocs } from '../../cmd/ambientd/check-cmd';
import { startDaemon } from '../harness/daemon-fixture';
import { BAD_SERVICE, Capture, MESH, adminOf, stubPeering } from './helpers';

async function runCheck(
  port: number,
  extra: { token?: string; output?: 'text' | 'json'; staleSeconds?: number } = {},
): Promise<{ code: number; text: string }> {
  const cap = new Capture();
  const code = await checkCommand(
    {
      debugUrl: `http://127.0.0.1:${port}`,
      output: extra.output ?? 'text',
      token: extra.token,
      staleSeconds: extra.staleSeconds,
    },
    cap.stream,
  );
  return { code, text: cap.text };
}

const CHECKS = [
  'daemon ready',
  'config valid',
  'registry sources readable',
  'CA material',
  'peers connected and synced',
  'no stale peer data',
  'no flat-mode address conflicts',
  'peers linked',
  'ztunnels ACKed the latest push',
];

t.test('healthy daemon with an in-sync ztunnel: every check ✓, exit 0', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  const z = f.ztunnel();
  z.connect();
  await z.until(() => z.held(TYPE_ADDRESS).size > 0 && z.acked.get(TYPE_AUTHORIZATION), 'synced');
  const r = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(r.code, 0, r.text);
  const lines = r.text.trim().split('\n');
  t.same(
    lines.map((l) => l.replace(/^[✓✗] /, '').replace(/:.*$/, '')),
    CHECKS,
    'one line per check, in order',
  );
  t.ok(
    lines.every((l) => l.startsWith('✓ ')),
    r.text,
  );
  t.match(r.text, /1 xDS client\(s\) \(1 ztunnel\) in sync/);
  const j = await runCheck(adminOf(f.daemon).debugPort, { output: 'json' });
  t.equal(j.code, 0);
  const doc = JSON.parse(j.text) as { ok: boolean; checks: { name: string; ok: boolean; reason: string }[] };
  t.equal(doc.ok, true);
  t.same(
    doc.checks.map((c) => c.name),
    CHECKS,
  );
});

// The peering layer (pkg/peering) is not wired into the daemon yet: these two
// tests run a REAL daemon and admin surface with a STUB peering layer whose
// status() reports a declared istio-remote peer that cannot be reached (a
// closed 127.0.0.x port), as the real layer will.
t.test('[stub peering] a declared-but-disconnected peer with old data: ✗ and exit 1', async (t) => {
  const closed = await closedPort();
  const peering = stubPeering([
    {
      name: 'istio-remote-peer-c2',
      cluster: 'c2',
      network: 'net2',
      address: `127.0.0.2:${closed}`,
      conditions: {
        Connected: { status: 'False', reason: 'DialFailed', message: `connect ECONNREFUSED 127.0.0.2:${closed}` },
        Synced: { status: 'True', reason: 'InitialSyncDone' },
      },
      lastSyncAt: Date.now() - 3600_000,
      stale: true,
      resources: { FederatedService: 2 },
    },
  ]);
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin, peering: peering.factory } });
  t.teardown(() => f.close());
  const r = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(r.code, 1, r.text);
  t.match(
    r.text,
    /^✗ peers connected and synced: istio-remote-peer-c2 not Connected \(DialFailed: connect ECONNREFUSED/m,
  );
  t.match(r.text, /^✗ no stale peer data: istio-remote-peer-c2: last synced 36\d\ds ago/m);
  t.match(r.text, /^✓ CA material/m);
  t.match(r.text, /^✓ no flat-mode address conflicts/m);
  const generous = await runCheck(adminOf(f.daemon).debugPort, { staleSeconds: 7200, output: 'json' });
  const doc = JSON.parse(generous.text) as { checks: { name: string; ok: boolean }[] };
  t.equal(doc.checks.find((c) => c.name === 'no stale peer data')!.ok, true, 'threshold is honoured');
  t.equal(doc.checks.find((c) => c.name === 'peers connected and synced')!.ok, false);
  t.equal(generous.code, 1);
  // The peer comes back: everything passes.
  peering.peers = [
    {
      name: 'istio-remote-peer-c2',
      conditions: {
        Connected: { status: 'True', reason: 'StreamUp' },
        Synced: { status: 'True', reason: 'InitialSyncDone' },
      },
      lastSyncAt: Date.now(),
      stale: false,
    },
  ];
  const healed = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(healed.code, 0, healed.text);
});

const remoteGateway = (port: number): string => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: istio-remote-peer-net2
  namespace: istio-system
  labels: { topology.istio.io/network: net2, topology.istio.io/cluster: c2 }
  annotations: { gateway.istio.io/service-account: istio-eastwest }
spec:
  gatewayClassName: istio-remote
  addresses: [{ type: IPAddress, value: 127.0.0.3 }]
  listeners:
  - { name: cross-network, port: 15008, protocol: HBONE, tls: { mode: Passthrough } }
  - { name: xds-tls, port: ${port}, protocol: TLS, tls: { mode: Passthrough } }
`;

t.test(
  'an istio-remote Gateway (at a closed 127.0.0.3 port) that no peering layer connects: ✗ and exit 1',
  async (t) => {
    const closed = await closedPort();
    const f = await startDaemon({
      files: { 'mesh.yaml': MESH, 'peer.yaml': remoteGateway(closed) },
      deps: { admin: createAdmin },
    });
    t.teardown(() => f.close());
    const r = await runCheck(adminOf(f.daemon).debugPort);
    t.equal(r.code, 1, r.text);
    t.match(
      r.text,
      new RegExp(
        /^✗ peers connected and synced: istio-system\/istio-remote-peer-net2 /.source +
          /declared but peering is not enabled in this daemon/.source,
        'm',
      ),
    );
    // [stub peering] a layer that does not (yet) report the declared peer.
    const g = await startDaemon({
      files: { 'mesh.yaml': MESH, 'peer.yaml': remoteGateway(closed) },
      deps: { admin: createAdmin, peering: stubPeering().factory },
    });
    t.teardown(() => g.close());
    const s = await runCheck(adminOf(g.daemon).debugPort);
    t.equal(s.code, 1);
    t.match(
      s.text,
      new RegExp(
        /^✗ peers connected and synced: istio-system\/istio-remote-peer-net2 /.source +
          /declared but not reported by the peering layer/.source,
        'm',
      ),
    );
  },
);

t.test('[stub peering] a flat-mode address conflict fails its check', async (t) => {
  const peering = stubPeering([
    {
      name: 'istio-remote-peer-c3',
      conditions: { Connected: { status: 'True' }, Synced: { status: 'True' } },
      lastSyncAt: Date.now(),
      conflicts: [{ kind: 'address', key: 'net1/10.0.0.5', reason: 'local Pod default/web-1 has the same address' }],
    },
  ]);
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin, peering: peering.factory } });
  t.teardown(() => f.close());
  const r = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(r.code, 1);
  t.match(
    r.text,
    /^✗ no flat-mode address conflicts: istio-remote-peer-c3: address net1\/10\.0\.0\.5 \(local Pod default\/web-1/m,
  );
  t.match(r.text, /^✓ peers connected and synced: 1 peer\(s\)/m);
});

t.test('[stub peering] an Invalid istio-remote Gateway fails "peers linked" and names the fix', async (t) => {
  const invalid = { status: 'False', reason: 'Invalid', message: 'spec.addresses is required' };
  const peering = stubPeering([
    {
      name: 'istio-gateways/istio-remote-peer-c4',
      conditions: { Connected: invalid, Synced: invalid, DataPlaneProgrammed: invalid },
    },
  ]);
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin, peering: peering.factory } });
  t.teardown(() => f.close());
  const r = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(r.code, 1);
  t.match(
    r.text,
    new RegExp(
      /^✗ peers linked: istio-gateways\/istio-remote-peer-c4 is Invalid \(spec\.addresses is required\); /.source +
        /regenerate it with `ambientd link --from <peer debug URL> --write`$/.source,
      'm',
    ),
  );
});

t.test('[stub peering] a conflict that names both owners is printed with them', async (t) => {
  const peering = stubPeering([
    {
      name: 'istio-remote-peer-c3',
      conditions: { Connected: { status: 'True' }, Synced: { status: 'True' } },
      lastSyncAt: Date.now(),
      conflicts: [
        {
          kind: 'WorkloadAddress',
          key: 'net1/10.0.0.5',
          owners: ['local c1//Pod/default/web-1', 'c3 c3//Pod/shop/api-0'],
          reason: '10.0.0.5 of c3/shop/api-0 collides with local c1//Pod/default/web-1',
        },
      ],
    },
  ]);
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin, peering: peering.factory } });
  t.teardown(() => f.close());
  const r = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(r.code, 1);
  t.match(
    r.text,
    new RegExp(
      /^✗ no flat-mode address conflicts: istio-remote-peer-c3: /.source +
        /WorkloadAddress net1\/10\.0\.0\.5 held by local c1\/\/Pod\/default\/web-1, /.source +
        /refused to c3 c3\/\/Pod\/shop\/api-0$/.source,
      'm',
    ),
  );
});

t.test('a ztunnel that NACKed the latest push, and a rejected registry object, fail their checks', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH, 'bad.yaml': BAD_SERVICE }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  const z = f.ztunnel({ validate: (typeUrl) => (typeUrl === TYPE_AUTHORIZATION ? 'refused by test' : undefined) });
  z.connect();
  await z.until(() => z.received.some((x) => x.typeUrl === TYPE_AUTHORIZATION), 'got policies');
  const r = await runCheck(adminOf(f.daemon).debugPort);
  t.equal(r.code, 1);
  t.match(r.text, /^✗ ztunnels ACKed the latest push: ztunnel~.* NACKed Authorization: .*refused by test/m);
  t.match(r.text, /^✗ config valid: 1 registry object\(s\) rejected: Service default\/broken: /m);
});

t.test('unreachable daemon and wrong token: exit 1 with a reason', async (t) => {
  const closed = await closedPort();
  const r = await runCheck(closed);
  t.equal(r.code, 1);
  t.match(r.text, /^✗ daemon reachable: cannot read http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/m);

  const f = await startDaemon({
    files: { 'mesh.yaml': MESH },
    flags: { 'admin-debug-token': 'check-secret-1' },
    deps: { admin: createAdmin },
  });
  t.teardown(() => f.close());
  const port = adminOf(f.daemon).debugPort;
  const none = await runCheck(port);
  t.equal(none.code, 1);
  t.match(none.text, /401 unauthorized/);
  const wrong = await runCheck(port, { token: 'check-secret-2' });
  t.equal(wrong.code, 1);
  const right = await runCheck(port, { token: 'check-secret-1' });
  t.equal(right.code, 0, right.text);
});

t.test('CA material expiring within 30 days fails (documents fabricated; evaluate is pure)', async (t) => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const docs = (days: number): CheckDocs => ({
    ready: { status: 200, body: { ready: true, reasons: [] } },
    configz: { config: {} },
    registryz: { counts: {}, rejected: [] },
    certz: {
      now: new Date(now).toISOString(),
      ca: { mode: 'plugin', roots: [{ notAfter: '' }], expiresAt: new Date(now + days * 86_400_000).toISOString() },
    },
    peers: { enabled: false, peers: [] },
    syncz: { streams: [] },
  });
  const ca = (days: number) => evaluate(docs(days)).find((c) => c.name === 'CA material')!;
  t.equal(ca(29).ok, false);
  t.match(ca(29).reason, /29 days, less than 30/);
  t.equal(ca(31).ok, true);
  const none = evaluate({ ...docs(100), certz: { ca: { roots: [] } } }).find((c) => c.name === 'CA material')!;
  t.equal(none.ok, false);
});

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

t.test("flag parsing for the lead's main.ts wiring", async (t) => {
  t.same(checkArgsFromFlags({}), {
    debugUrl: 'http://127.0.0.1:8080',
    token: undefined,
    output: 'text',
    staleSeconds: undefined,
  });
  t.same(checkArgsFromFlags({ 'debug-url': 'http://127.0.0.1:9', output: 'json', 'stale-seconds': '60' }, 'env-tok'), {
    debugUrl: 'http://127.0.0.1:9',
    token: 'env-tok',
    output: 'json',
    staleSeconds: 60,
  });
  t.equal(
    (checkArgsFromFlags({ token: 'flag-tok' }, 'env-tok') as { token: string }).token,
    'flag-tok',
    'flag beats env',
  );
  t.match(checkArgsFromFlags({ output: 'yaml' }), /--output must be text or json/);
  t.match(checkArgsFromFlags({ 'stale-seconds': 'soon' }), /--stale-seconds/);
  t.match(checkArgsFromFlags({ 'debug-url': '127.0.0.1:8080' }), /--debug-url must be an http/);
});
