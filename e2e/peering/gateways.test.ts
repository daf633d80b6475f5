import t from 'tap';
import { Relay } from '../harness/relay';
import { adminOf, get } from '../admin/helpers';
import { FakeGateway, makePki, startCluster, ns, service, pods, remote, held, until, type Cluster } from './harness';

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

const SPLIT = (gw: string): string => `net-a/SplitHorizonWorkload/istio-gateways/${gw}/shop/web.shop.mesh.internal`;

async function exporter(): Promise<Cluster> {
  return startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
      'svc.yaml': service('web', 'shop'),
      'pods.yaml': pods('web', 'shop', 3, '10.1'),
    },
  });
}

t.test(
  'several gateways per peer: the data plane spreads over the healthy ones, withdraws a failed one, restores it',
  async (t) => {
    const a = await exporter();
    t.teardown(() => a.close());
    const g1 = new FakeGateway();
    const g2 = new FakeGateway();
    await g1.start();
    await g2.start();
    t.teardown(() => g1.stop());
    t.teardown(() => g2.stop());
    const b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      tuning: { probeIntervalMs: 100 },
      admin: true,
      files: {
        'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
        'svc.yaml': service('web', 'shop', {
          annotations: { 'networking.istio.io/traffic-distribution': 'PreferClose' },
        }),
        // Two istio-remote Gateways for cluster-a: two gateways of one peer, each with its locality.
        'gw1.yaml': remote({
          cluster: 'cluster-a',
          network: 'net-a',
          port: a.port,
          hbone: g1.port,
          labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' },
        }),
        'gw2.yaml': remote({
          name: 'istio-remote-peer-cluster-a-2',
          cluster: 'cluster-a',
          network: 'net-a',
          port: a.port,
          hbone: g2.port,
          labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z2' },
        }),
      },
    });
    t.teardown(() => b.close());
    const z = b.ztunnel();
    z.connect();
    const w1 = (await until('endpoint via gateway 1', () => held(z, SPLIT('istio-remote-peer-cluster-a'))))!.workload;
    const w2 = (await until('endpoint via gateway 2', () => held(z, SPLIT('istio-remote-peer-cluster-a-2'))))!.workload;
    t.same(
      [w1.networkGateway.hboneMtlsPort, w2.networkGateway.hboneMtlsPort],
      [g1.port, g2.port],
      'one endpoint per gateway',
    );
    t.same([w1.capacity.value, w2.capacity.value], [1, 1], 'capacity 2 shared between the two gateways');
    t.same(
      [w1.locality, w2.locality],
      [
        { region: 'r1', zone: 'z1' },
        { region: 'r1', zone: 'z2' },
      ],
      "each gateway's locality",
    );
    const svc = held(z, 'shop/web.shop.mesh.internal')!.service;
    t.same(
      svc.loadBalancing,
      { routingPreference: [6, 1, 2, 3], mode: 2 },
      'PreferClose: network, region, zone, subzone',
    );
    const st = b.peer('cluster-a')!;
    t.same(
      st.gateways!.map((g) => [g.id, g.healthy]),
      [
        [`istio-gateways/istio-remote-peer-cluster-a|127.0.0.1`, true],
        [`istio-gateways/istio-remote-peer-cluster-a-2|127.0.0.1`, true],
      ],
    );
    t.ok(
      b.peering
        .status()
        .some(
          (s) => s.gateway === 'istio-gateways/istio-remote-peer-cluster-a-2' && s.conditions[0]!.status === 'True',
        ),
      "the second Gateway carries the peer's conditions, not Duplicate",
    );

    // Gateway 2 fails its probe: withdrawn; gateway 1 carries the peer's whole capacity.
    await g2.stop();
    await until('gateway 2 withdrawn', () => !held(z, SPLIT('istio-remote-peer-cluster-a-2')), 10_000);
    t.equal(held(z, SPLIT('istio-remote-peer-cluster-a'))!.workload.capacity.value, 2);
    await until(
      'status shows it',
      () => !b.peer('cluster-a')!.gateways!.find((g) => g.id.includes('cluster-a-2'))!.healthy,
    );
    await until('programmed via the healthy one', () =>
      /via 1 of 2 gateways/.test(b.peer('cluster-a')!.conditions[2]!.message),
    );
    type Doc = { peers: { name: string; gateways: { id: string; healthy: boolean; since: string | null }[] }[] };
    const doc = (await get(adminOf(b.daemon).debugPort, '/debug/peers')).json<Doc>();
    const gws = doc.peers.find((p) => p.name === 'istio-gateways/istio-remote-peer-cluster-a')!.gateways;
    t.match(gws, [{ healthy: true }, { id: 'istio-gateways/istio-remote-peer-cluster-a-2|127.0.0.1', healthy: false }]);
    t.ok(gws[1]!.since && Date.parse(gws[1]!.since) > 0, '/debug/peers says since when');

    // Back: restored.
    await g2.start();
    await until('gateway 2 restored', () => held(z, SPLIT('istio-remote-peer-cluster-a-2')), 10_000);
    t.equal(held(z, SPLIT('istio-remote-peer-cluster-a'))!.workload.capacity.value, 1);

    // Both fail: kept (fail open), and the condition says so.
    await g1.stop();
    await g2.stop();
    await until(
      'no healthy gateway reported',
      () => b.peer('cluster-a')!.conditions[2]!.reason === 'NoHealthyGateway',
      10_000,
    );
    t.ok(
      held(z, SPLIT('istio-remote-peer-cluster-a')) && held(z, SPLIT('istio-remote-peer-cluster-a-2')),
      'both kept: a broken probe must not withdraw the peer',
    );
  },
);

t.test("the control-plane link fails over between a peer's gateways", async (t) => {
  const a = await exporter();
  t.teardown(() => a.close());
  const r1 = new Relay(() => a.port);
  const r2 = new Relay(() => a.port);
  await r1.start();
  await r2.start();
  t.teardown(() => r1.close());
  t.teardown(() => r2.close());
  const b = await startCluster({
    name: 'cluster-b',
    network: 'net-b',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('shop'),
      'gw1.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: r1.port }),
      'gw2.yaml': remote({
        name: 'istio-remote-peer-cluster-a-2',
        cluster: 'cluster-a',
        network: 'net-a',
        port: r2.port,
      }),
    },
  });
  t.teardown(() => b.close());
  await until('synced through gateway 1', () => b.cond('cluster-a', 'Synced') === 'True');
  t.match(b.peer('cluster-a')!.conditions[0]!.message, `127.0.0.1:${r1.port}`);
  // Gateway 1 goes away (listener closed, its connections cut): the link moves to gateway 2.
  await r1.close();
  await until(
    'reconnected through gateway 2',
    () =>
      b.cond('cluster-a', 'Connected') === 'True' &&
      b.peer('cluster-a')!.conditions[0]!.message.includes(`127.0.0.1:${r2.port}`),
    15_000,
  );
  await until('synced again', () => b.cond('cluster-a', 'Synced') === 'True');
  t.equal(b.peer('cluster-a')!.services, 1);
});
