import t from 'tap';
import { Rig, type RigPod } from './harness';
import { gatewayPair } from './gateway-topology';
import { addWebPod, exportWeb, untilEndpoints, WEB_GLOBAL_HOST } from './topologies';
import { serviceByHost } from './ztunnel';

// Scenario 4 of issue #17: a global service backed in A (the client's network) and in B (behind B's
// east-west gateway), with ambientd's default traffic distribution PreferNetwork. Traffic stays on A's local
// endpoint while it exists, fails over to B through the gateway when it goes away, and comes back; B's
// endpoints going away changes nothing for a client served locally.
const skip = Rig.unavailable();
t.setTimeout(240_000);

/** Who answers n new connections (banners), failing the test on a refused one. */
async function answers(client: RigPod, vip: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await client.reach(vip, 80);
    out.push(r.banner ?? `refused: ${r.error}`);
  }
  return out;
}

t.test("failover between A's local endpoint and B's behind the gateway (PreferNetwork)", { skip }, async (t) => {
  const rig = await Rig.create({ tag: 'failover' });
  t.teardown(() => rig.close({ keep: !t.passing() }));
  const { a, b, client, web, gw } = await gatewayPair(rig);
  exportWeb(a);
  const local = await addWebPod(a, 'web-a-0');
  // Two endpoints in A's ztunnel: the local pod and the split-horizon workload standing for B's pods.
  const vip = await untilEndpoints(client, WEB_GLOBAL_HOST, 2);

  await t.test('the service says PreferNetwork: failover by network', async (t) => {
    const svc = serviceByHost(await client.ztunnel!.configDump(), WEB_GLOBAL_HOST)!;
    t.match(svc.loadBalancer, { routingPreferences: ['Network'], mode: 'Failover' });
  });

  await t.test('all traffic stays on the local endpoint', async (t) => {
    t.same([...new Set(await answers(client, vip, 10))], ['web-a-0']);
  });

  await t.test('the local endpoint goes away: traffic fails over to B through the gateway', async (t) => {
    a.unregisterPod(local);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
    const got = await answers(client, vip, 10);
    t.ok(
      got.every((x) => x === 'web-b-0' || x === 'web-b-1'),
      `answered by B only: ${got.join(', ')}`,
    );
  });

  await t.test('the local endpoint comes back: traffic returns to it', async (t) => {
    a.registerPod(local);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 2);
    t.same([...new Set(await answers(client, vip, 10))], ['web-a-0']);
  });

  await t.test("B's endpoints go away and come back: the local client is unaffected", async (t) => {
    for (const w of web) b.unregisterPod(w);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
    t.same([...new Set(await answers(client, vip, 5))], ['web-a-0'], 'B gone: still local');
    for (const w of web) b.registerPod(w);
    await gw.untilRoute(WEB_GLOBAL_HOST, web.length);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 2);
    a.unregisterPod(local);
    await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
    const got = await answers(client, vip, 5);
    t.ok(
      got.every((x) => x.startsWith('web-b-')),
      `B back and A gone: answered by B (${got.join(', ')})`,
    );
  });
});
