import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { Rig } from './harness';
import * as y from './mesh-yaml';
import { untilEndpoints } from './topologies';
import { acceptedFrom, serviceByHost, vipOf } from './ztunnel';

// Scenario 2 of issue #17: two peered clusters on one flat network (per-cluster intermediates under one
// root). A pod in A reaches a global service exported by B and lands on B's pod directly, over HBONE.
const skip = Rig.unavailable();
t.setTimeout(240_000);

t.test('flat network: pod in A → *.mesh.internal → pod in B directly', { skip }, async (t) => {
  const rig = await Rig.create({ tag: 'flat' });
  t.teardown(() => rig.close({ keep: !t.passing() }));
  const a = await rig.cluster({ name: 'cluster-a', network: 'flat-net' });
  const b = await rig.cluster({ name: 'cluster-b', network: 'flat-net' });
  const shop = y.namespace('shop', { 'istio.io/dataplane-mode': 'ambient' });
  b.write(
    '10-shop.yaml',
    y.join([
      shop,
      y.service({
        name: 'web',
        namespace: 'shop',
        clusterIP: b.nextVip(),
        labels: { 'solo.io/service-scope': 'global' },
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      }),
    ]),
  );
  a.write('10-shop.yaml', shop);
  a.write('50-peer-b.yaml', y.remoteGateway({ cluster: 'cluster-b', network: 'flat-net', address: b.cpIp }));
  const webB = await b.addPod({ name: 'web-b-0', namespace: 'shop', labels: { app: 'web' }, serve: [8080] });
  const client = await a.addPod({ name: 'client', namespace: 'shop', labels: { app: 'client' } });
  const host = 'web.shop.mesh.internal';

  let vip = '';
  await t.test("A's ztunnel holds the global service with B's pod as a direct endpoint", async (t) => {
    const d = await client.ztunnel!.until(
      `${host} with B's pod`,
      (d) => {
        const s = serviceByHost(d, host);
        return s && Object.keys(s.endpoints ?? {}).length === 1 ? d : undefined;
      },
      30_000,
    );
    const w = d.workloads.find((x) => x.name === 'web-b-0')!;
    t.ok(w, "B's pod is a workload in A's ztunnel");
    t.same(w.workloadIps, [webB.ip], 'with its pod IP (flat: no gateway)');
    t.equal(w.network, 'flat-net');
    t.equal(w.clusterId, 'cluster-b');
    t.notOk(w.networkGateway, 'no network gateway');
    vip = vipOf(serviceByHost(d, host), 'flat-net') ?? '';
    t.ok(vip, 'a VIP for the global service');
  });

  await t.test("traffic lands on B's pod, mTLS between A's and B's identities under one root", async (t) => {
    const c = await client.open(vip, 80);
    t.equal(c.banner, 'web-b-0');
    t.equal(await c.echo('across clusters'), 'across clusters');
    t.ok(await c.finish());
    const m = await webB.ztunnel!.metrics();
    t.ok(acceptedFrom(m, 'spiffe://cluster.local/ns/shop/sa/client'), "B's ztunnel saw A's client identity");
    // Each side's chain: leaf, its own cluster's intermediate; the same root in both trust stores.
    for (const [pod, c] of [
      [client, a],
      [webB, b],
    ] as const) {
      const cert = ((await pod.ztunnel!.configDump()).certificates ?? []).find((x) => x.state === 'Available')!;
      const fp = (der: Buffer): string => new crypto.X509Certificate(der).fingerprint256;
      const pem = (x: { pem: string }): string => fp(Buffer.from(x.pem, 'base64'));
      const file = (f: string): string => fp(fs.readFileSync(path.join(rig.caDir(c.name), f)));
      t.equal(pem(cert.certChain[1]), file('ca-cert.pem'), `${pod.name} chains to ${c.name}'s intermediate`);
      t.equal(pem(cert.rootCerts[0]), file('root-cert.pem'), `${pod.name} trusts the shared root`);
    }
  });

  await t.test('a pod added in B is reached from A', async (t) => {
    await b.addPod({ name: 'web-b-1', namespace: 'shop', labels: { app: 'web' }, serve: [8080] });
    await untilEndpoints(client, host, 2);
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = await client.reach(vip, 80);
      if (r.banner) seen.add(r.banner);
    }
    t.same([...seen].sort(), ['web-b-0', 'web-b-1'], "connections spread over both of B's pods");
  });
});
