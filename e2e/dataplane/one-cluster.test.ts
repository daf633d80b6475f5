import t from 'tap';
import { Rig } from './harness';
import * as y from './mesh-yaml';
import { acceptedFrom, enforces, serviceByHost, vipOf } from './ztunnel';

// Scenario 1 of issue #17: one cluster, unmodified ztunnels in dedicated mode, one per pod namespace.
const skip = Rig.unavailable();
t.setTimeout(240_000);

t.test('one cluster: service VIP over HBONE, named target port, STRICT, ALLOW and DENY', { skip }, async (t) => {
  const rig = await Rig.create({ tag: 'one' });
  // A failed run keeps its work dir (logs of every daemon, ztunnel and agent).
  t.teardown(() => rig.close({ keep: !t.passing() }));
  const a = await rig.cluster({ name: 'cluster-a', network: 'net-a' });
  const vip = a.nextVip();
  a.write(
    '10-shop.yaml',
    y.join([
      y.namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }),
      y.namespace('other', { 'istio.io/dataplane-mode': 'ambient' }),
      y.service({
        name: 'web',
        namespace: 'shop',
        clusterIP: vip,
        ports: [
          { name: 'http', port: 80, targetPort: 'http-api' },
          { name: 'admin', port: 9090, targetPort: 9090 },
        ],
      }),
    ]),
  );
  const web = await a.addPod({
    name: 'web-0',
    namespace: 'shop',
    labels: { app: 'web' },
    serve: [8080, 9090],
    captureInbound: [8080],
    containerPorts: [{ name: 'http-api', containerPort: 8080 }, { containerPort: 9090 }],
  });
  const client = await a.addPod({ name: 'client', namespace: 'shop', labels: { app: 'client' } });
  const intruder = await a.addPod({ name: 'intruder', namespace: 'other', labels: { app: 'intruder' } });
  const legacy = await a.addPod({ name: 'legacy', namespace: 'legacy', ztunnel: false });
  const host = 'web.shop.svc.cluster.local';

  await t.test('the client ztunnel holds the service, its VIP, the named port resolved on the endpoint', async (t) => {
    const d = await client.ztunnel!.until('web with its endpoint', (d) => {
      const s = serviceByHost(d, host);
      return s && Object.keys(s.endpoints ?? {}).length === 1 ? d : undefined;
    });
    const svc = serviceByHost(d, host)!;
    t.equal(vipOf(svc, 'net-a'), vip, 'VIP in the client network');
    const w = d.workloads.find((x) => x.name === 'web-0')!;
    t.equal(w.protocol, 'HBONE');
    t.same(w.workloadIps, [web.ip]);
    t.same(svc.ports, { 80: 0, 9090: 9090 }, 'a named target port is resolved per endpoint, not on the service');
    t.same(w.services, [`shop/${host}`]);
    type Endpoint = { workloadUid: string; port: Record<string, number> };
    const ep = Object.values(svc.endpoints as Record<string, Endpoint>)[0]!;
    t.equal(ep.workloadUid, w.uid);
    t.same(ep.port, { 80: 8080, 9090: 9090 }, 'http-api resolved to 8080 for this pod');
  });

  await t.test("pod → VIP:80 reaches web-0:8080 over HBONE with the client's own identity", async (t) => {
    const c = await client.open(vip, 80);
    t.equal(c.banner, 'web-0');
    t.equal(await c.echo('hello over hbone'), 'hello over hbone');
    t.ok(await c.finish(), 'both sides closed after the client half-closed');
    const d = await client.ztunnel!.until('a certificate', (d) => d.certificates?.find((x) => x.state === 'Available'));
    t.equal(d.identity, 'spiffe://cluster.local/ns/shop/sa/client', "dedicated mode: the pod's own identity");
    const m = await web.ztunnel!.metrics();
    t.ok(
      acceptedFrom(m, 'spiffe://cluster.local/ns/shop/sa/client'),
      'the destination ztunnel accepted it over mTLS from the client identity',
    );
  });

  await t.test('STRICT: plaintext to the pod is refused, HBONE still works', async (t) => {
    // Without a PeerAuthentication the redirected plaintext connection passes ztunnel's inbound (15006).
    const before = await legacy.reach(web.ip, 8080, { plain: true });
    t.equal(before.banner, 'web-0', 'plaintext accepted before STRICT');
    a.write('20-strict.yaml', y.peerAuthentication({ name: 'default', namespace: 'istio-system', mode: 'STRICT' }));
    await web.ztunnel!.until('STRICT policy on web-0, and the policy itself', (d) =>
      enforces(d, 'web-0', 'istio-system', 'istio_converted_static_strict'),
    );
    const after = await legacy.reach(web.ip, 8080, { plain: true });
    t.notOk(after.banner, `plaintext refused under STRICT (${after.error})`);
    t.equal((await client.reach(vip, 80)).banner, 'web-0', 'mTLS traffic unaffected');
  });

  await t.test('ALLOW: only the listed principal gets through', async (t) => {
    t.equal((await intruder.reach(vip, 80)).banner, 'web-0', 'intruder allowed before the policy');
    a.write(
      '30-allow.yaml',
      y.authorizationPolicy({
        name: 'web-from-client',
        namespace: 'shop',
        action: 'ALLOW',
        selector: { app: 'web' },
        principals: [client.principal],
      }),
    );
    await web.ztunnel!.until('ALLOW policy on web-0, and the policy itself', (d) =>
      enforces(d, 'web-0', 'shop', 'web-from-client'),
    );
    const denied = await intruder.reach(vip, 80);
    t.notOk(denied.banner, `intruder refused (${denied.error})`);
    t.equal((await client.reach(vip, 80)).banner, 'web-0', 'client still allowed');
  });

  await t.test('DENY: a port denied to the client, the other port still open', async (t) => {
    t.equal((await client.reach(vip, 9090)).banner, 'web-0', '9090 open before the policy');
    a.write(
      '40-deny.yaml',
      y.authorizationPolicy({
        name: 'no-admin',
        namespace: 'shop',
        action: 'DENY',
        selector: { app: 'web' },
        principals: [client.principal],
        ports: ['9090'],
      }),
    );
    await web.ztunnel!.until('DENY policy on web-0, and the policy itself', (d) =>
      enforces(d, 'web-0', 'shop', 'no-admin'),
    );
    const denied = await client.reach(vip, 9090);
    t.notOk(denied.banner, `9090 refused (${denied.error})`);
    t.equal((await client.reach(vip, 80)).banner, 'web-0', '80 still allowed');
    // Policies are enforced per connection at the destination: the app saw no connection it should not have.
    const st = await web.agent.stats();
    t.equal(st['9090']!.open, 0, 'nothing left open on the app');
  });
});
