import t from 'tap';
import { Rig, type RigCluster, type RigPod } from './harness';
import { startGateway, type GatewayProc } from './gateway-proc';
import { addEdge, eastWestObjects, remoteFor } from './gateway-topology';
import { addWebPod, exportWeb, SHOP_NS, untilEndpoints, WEB_GLOBAL_HOST } from './topologies';

// Scenario 6 of issue #17: three clusters on three networks. B and C both export `web`, each behind its own
// east-west gateway with an address on A's network; a pod in A reaches the one global service and lands on
// both, and on the remaining one when the other's endpoints go away.
const skip = Rig.unavailable();
t.setTimeout(240_000);

t.test('three clusters: A reaches a service exported by both B and C', { skip }, async (t) => {
  const rig = await Rig.create({ tag: 'three' });
  t.teardown(() => rig.close({ keep: !t.passing() }));
  const a = await rig.cluster({ name: 'cluster-a', network: 'net-a' });
  a.write('10-shop.yaml', SHOP_NS);
  const exporters: { c: RigCluster; pod: RigPod; gw: GatewayProc }[] = [];
  for (const [name, network] of [
    ['cluster-b', 'net-b'],
    ['cluster-c', 'net-c'],
  ] as const) {
    const c = await rig.cluster({ name, network });
    const edge = await addEdge(rig, c, ['net-a']);
    exportWeb(c);
    c.write('40-eastwest.yaml', eastWestObjects(c, edge, 'net-a'));
    a.write(`50-peer-${name}.yaml`, remoteFor(c, edge, a));
    const gw = await startGateway(c);
    const pod = await addWebPod(c, `web-${name.slice(-1)}-0`);
    await gw.untilRoute(WEB_GLOBAL_HOST, 1);
    exporters.push({ c, pod, gw });
  }
  const client = await a.addPod({ name: 'client', namespace: 'shop', labels: { app: 'client' } });
  const vip = await untilEndpoints(client, WEB_GLOBAL_HOST, 2);

  await t.test('one split-horizon endpoint per remote network, each with its own gateway', async (t) => {
    const d = await client.ztunnel!.configDump();
    const sh = d.workloads.filter((w) => (w.services ?? []).includes(`shop/${WEB_GLOBAL_HOST}`) && w.networkGateway);
    t.same(sh.map((w) => w.network).sort(), ['net-b', 'net-c']);
    t.not(JSON.stringify(sh[0]!.networkGateway), JSON.stringify(sh[1]!.networkGateway), 'different gateways');
  });

  await t.test('connections from A land in both B and C', async (t) => {
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const c = await client.open(vip, 80);
      t.equal(await c.echo(`n${i}`), `n${i}`);
      seen.add(c.banner);
      c.close();
    }
    t.same([...seen].sort(), ['web-b-0', 'web-c-0']);
  });

  await t.test("B's endpoints go away: everything goes to C; B comes back", async (t) => {
    const [b, c] = exporters;
    b!.c.unregisterPod(b!.pod);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
    for (let i = 0; i < 5; i++) t.equal((await client.reach(vip, 80)).banner, c!.pod.name);
    b!.c.registerPod(b!.pod);
    await b!.gw.untilRoute(WEB_GLOBAL_HOST, 1);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 2);
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await client.reach(vip, 80)).banner ?? 'refused');
    t.same([...seen].sort(), ['web-b-0', 'web-c-0'], 'both again');
  });
});
