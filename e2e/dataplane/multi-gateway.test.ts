import t, { type Test } from 'tap';
import { Rig, type RigCluster, type RigPod } from './harness';
import { startGateway, type GatewayProc } from './gateway-proc';
import * as y from './mesh-yaml';
import { addWebPod, exportWeb, SHOP_NS, untilEndpoints, WEB_GLOBAL_HOST } from './topologies';
import { serviceByHost, type ConfigDump } from './ztunnel';
import type { LooseJson } from '../harness/loose-json';

// Issue #21 item 1 end to end with real ztunnels: cluster B (net-b) is exposed to A (net-a) through TWO
// east-west gateway processes, each on its own address of B's edge; A's istio-remote Gateway lists both
// spec.addresses. A's daemon probes each gateway (pkg/peering/link/gateway-health.ts: TCP to 15008 and the xds
// port every 500 ms, 6 of 8 failures withdraw, 3 passes restore) and offers A's ztunnel one split-horizon
// endpoint per healthy gateway. Killing one gateway withdraws its endpoint; restarting it brings it back.
const skip = Rig.unavailable();
t.setTimeout(300_000);

/** The issue's bound is 5 s from failure or recovery to ztunnels' view; the rig allows 10 s under load. */
const BOUND_MS = 10_000;

/** The gateway addresses of the split-horizon endpoints standing for B's `web` in A's ztunnel. */
function splitHorizonVia(d: ConfigDump): string[] {
  const eps = Object.values((serviceByHost(d, WEB_GLOBAL_HOST)?.endpoints ?? {}) as LooseJson);
  const uids = new Set(eps.map((e) => e.workloadUid as string));
  return d.workloads
    .filter((w) => uids.has(w.uid) && w.network === 'net-b')
    .map((w) => String(w.networkGateway?.destination ?? '').replace(/^net-b\//, ''))
    .sort();
}

/** Tunnels a gateway process has relayed since it started. */
async function tunnels(g: GatewayProc): Promise<number> {
  const m = /^ambientd_eastwest_tunnels_total(?:\{[^}]*\})? (\d+)/m.exec(await g.metrics());
  return m ? Number(m[1]) : 0;
}

/** One connection through A's ztunnel that must reach B's pod and echo. */
async function roundTrip(t: Test, client: RigPod, vip: string, i: number): Promise<void> {
  const c = await client.open(vip, 80);
  t.equal(c.banner, 'web-b-0', `connection ${i} answered by B's pod`);
  t.equal(await c.echo(`hello ${i}`), `hello ${i}`, `connection ${i} echoes`);
  t.ok(await c.finish(), `connection ${i} closed on both sides`);
}

/** B's edge: one leg on net-a holding one address per gateway (nothing else routes between the networks). */
async function twoAddressEdge(rig: Rig, b: RigCluster): Promise<string[]> {
  await rig.topology.bridge('net-a');
  const lbs = [rig.topology.allocate('net-a'), rig.topology.allocate('net-a')];
  await rig.topology.attach(b.cpNs, 'net-a', 'ext1', lbs);
  return lbs;
}

t.test('two east-west gateways for one peer: both used, one fails and returns', { skip }, async (t) => {
  const rig = await Rig.create({ tag: 'mgw' });
  t.teardown(() => rig.close({ keep: !t.passing() }));
  const a = await rig.cluster({ name: 'cluster-a', network: 'net-a' });
  const b = await rig.cluster({ name: 'cluster-b', network: 'net-b' });
  const lbs = await twoAddressEdge(rig, b);
  exportWeb(b);
  const both = { cluster: b.name, network: b.network, address: lbs[0]!, addresses: lbs };
  b.write('40-eastwest.yaml', y.eastWestGateway(both));
  a.write('10-shop.yaml', SHOP_NS);
  a.write('50-peer-b.yaml', y.remoteGateway(both));
  // Each gateway listens on its own address only, so stopping one leaves nothing on its 15008.
  const gws = await Promise.all(
    lbs.map((lb, i) =>
      startGateway(b, {
        name: `eastwest-${b.name}-${i}`,
        flags: {
          listen: `${lb}:15008`,
          'admin-listen': `127.0.0.1:${15020 + i}`,
          'admin-debug-listen': `127.0.0.1:${15000 + i}`,
        },
      }),
    ),
  );
  await addWebPod(b, 'web-b-0');
  const client = await a.addPod({ name: 'client', namespace: 'shop', labels: { app: 'client' } });
  for (const g of gws) await g.untilRoute(WEB_GLOBAL_HOST, 1);
  const vip = await untilEndpoints(client, WEB_GLOBAL_HOST, 2);
  const z = client.ztunnel!;

  await t.test("A's ztunnel has one split-horizon endpoint per gateway, and both carry traffic", async (t) => {
    t.same(splitHorizonVia(await z.configDump()), [...lbs].sort(), 'one endpoint through each gateway address');
    const before = await Promise.all(gws.map(tunnels));
    // ztunnel picks among endpoints of equal rank and capacity at random: with two, the chance that 20
    // connections all take one gateway is 2 × 2^-20.
    const n = 20;
    for (let i = 0; i < n; i++) await roundTrip(t, client, vip, i);
    const per = (await Promise.all(gws.map(tunnels))).map((x, i) => x - before[i]!);
    t.ok(
      per.every((x) => x > 0),
      `both gateways relayed connections (${per.join(' + ')} of ${n})`,
    );
    t.equal(per[0]! + per[1]!, n, 'every connection went through exactly one of them');
  });

  await t.test('one gateway killed: its endpoint is withdrawn and new connections use the other', async (t) => {
    const started = Date.now();
    gws[0]!.proc.kill('SIGKILL');
    await gws[0]!.proc.exited;
    await z.until(`only ${lbs[1]} offered`, (d) => splitHorizonVia(d).join() === lbs[1], BOUND_MS);
    const ms = Date.now() - started;
    t.ok(ms <= BOUND_MS, `withdrawn from A's ztunnel ${ms} ms after the kill`);
    const d = await z.configDump();
    t.notOk(
      d.workloads.some((w) => w.networkGateway?.destination === `net-b/${lbs[0]}`),
      "no workload in A's ztunnel goes through the dead gateway",
    );
    t.ok(
      d.workloads.some((w) => (w.workloadIps ?? []).includes(lbs[0])),
      "the gateway's own workload stays declared (only the data-plane use is withdrawn)",
    );
    const before = await tunnels(gws[1]!);
    const n = 10;
    for (let i = 0; i < n; i++) await roundTrip(t, client, vip, i);
    t.equal((await tunnels(gws[1]!)) - before, n, `all ${n} new connections went through the other gateway`);
  });

  await t.test('the gateway restarts: its endpoint returns and it carries traffic again', async (t) => {
    await gws[0]!.restart();
    await gws[0]!.untilRoute(WEB_GLOBAL_HOST, 1);
    const started = Date.now();
    await z.until('both gateways offered again', (d) => splitHorizonVia(d).length === 2, BOUND_MS);
    const ms = Date.now() - started;
    t.ok(ms <= BOUND_MS, `restored in A's ztunnel ${ms} ms after the gateway was ready`);
    t.same(splitHorizonVia(await z.configDump()), [...lbs].sort(), 'one endpoint through each gateway again');
    let opened = 0;
    let relayed = 0;
    while (opened < 40 && relayed === 0) {
      await roundTrip(t, client, vip, opened++);
      relayed = await tunnels(gws[0]!);
    }
    t.ok(relayed > 0, `the restarted gateway relays again (${relayed} of ${opened} new connections)`);
  });
});
