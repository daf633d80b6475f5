import t from 'tap';
import { Rig } from './harness';
import { gatewayPair, NODE_PORT, nodePortHits } from './gateway-topology';
import { untilEndpoints, WEB_GLOBAL_HOST } from './topologies';
import { acceptedFrom } from './ztunnel';
import type { LooseJson } from '../harness/loose-json';

// Scenario 3 of issue #17: two clusters on different networks, A's pods reach B's through B's east-west
// gateway (double HBONE), once with the gateway's LoadBalancer-style address and once through a node address
// and NodePort. Nothing routes between the two networks; only the gateway has a leg on both.
const skip = Rig.unavailable();
t.setTimeout(240_000);

for (const nodePort of [false, true]) {
  const form = nodePort ? 'NodePort' : 'LoadBalancer address';
  t.test(`two networks through the east-west gateway (${form})`, { skip }, async (t) => {
    const rig = await Rig.create({ tag: nodePort ? 'np' : 'lb' });
    t.teardown(() => rig.close({ keep: !t.passing() }));
    const { b, client, web, edge, gw } = await gatewayPair(rig, { nodePort });

    let vip = '';
    await t.test("A's ztunnel reaches B only through a network gateway", async (t) => {
      vip = await untilEndpoints(client, WEB_GLOBAL_HOST, 1);
      const d = await client.ztunnel!.configDump();
      const backs = (w: LooseJson): boolean => (w.services ?? []).includes(`shop/${WEB_GLOBAL_HOST}`);
      const sh = d.workloads.find((w) => backs(w) && w.network === 'net-b');
      t.ok(sh, 'a split-horizon workload for B');
      t.same(sh!.workloadIps ?? [], [], 'without addresses');
      if (nodePort) {
        const nodeHost = 'node.istio-eastwest.net-b.mesh.internal';
        const byHost = { destination: `istio-system/${nodeHost}`, hboneMtlsPort: 15008 };
        t.same(sh!.networkGateway, byHost, 'gateway by node hostname');
        const nodes = d.services.find((s) => s.hostname === nodeHost)!;
        t.same(nodes.ports, { 15008: NODE_PORT }, 'HBONE port → nodePort');
        const nodeUid = Object.values(nodes.endpoints as Record<string, { workloadUid: string }>)[0]!.workloadUid;
        const nodeWl = d.workloads.find((w) => w.uid === nodeUid)!;
        t.same(nodeWl.workloadIps, [edge.node['net-a']], "the node address on A's network");
        t.equal(nodeWl.serviceAccount, 'istio-eastwest', "node workloads carry the gateway's identity");
      } else {
        const byAddress = { destination: `net-b/${edge.lb['net-a']}`, hboneMtlsPort: 15008 };
        t.same(sh!.networkGateway, byAddress, 'gateway by address');
      }
      t.equal(sh!.capacity, 2, "capacity = B's two pods");
      t.notOk(
        d.workloads.some((w) => w.name?.startsWith('web-b')),
        "B's pods themselves are not in A",
      );
      const svc = d.services.find((s) => s.hostname === WEB_GLOBAL_HOST)!;
      const sans = (svc.subjectAltNames ?? []) as string[];
      t.ok(sans.includes('spiffe://cluster.local/ns/shop/sa/web'), "inner SANs: B's workload identity");
      // The direct path does not exist: B's pod IPs are on a network A's namespace has no route to.
      const direct = await client.reach(web[0]!.ip, 8080, { plain: true });
      t.notOk(direct.banner, `no direct route to B's pods (${direct.error})`);
    });

    await t.test('pod in A → global service → pod in B, double HBONE through the gateway', async (t) => {
      const seen = new Set<string>();
      let opened = 0;
      for (let i = 0; i < 30 && seen.size < 2; i++) {
        opened++;
        const c = await client.open(vip, 80);
        t.equal(await c.echo(`hello ${i}`), `hello ${i}`);
        seen.add(c.banner);
        t.ok(await c.finish(), 'closed on both sides');
      }
      t.same([...seen].sort(), ['web-b-0', 'web-b-1'], "the gateway spreads connections over B's pods");
      const tunnels = /^ambientd_eastwest_tunnels_total(?:\{[^}]*\})? (\d+)/m.exec(await gw.metrics());
      t.ok(tunnels && Number(tunnels[1]) >= opened, `the gateway relayed every connection (${tunnels?.[1]} tunnels)`);
      const hits = await nodePortHits(b);
      if (nodePort) t.ok(hits > 0, `connections came in through node:${NODE_PORT} (${hits})`);
      else t.equal(hits, 0, 'nothing came in through the node port');
      const m = await web[0]!.ztunnel!.metrics();
      t.ok(
        acceptedFrom(m, 'spiffe://cluster.local/ns/shop/sa/client'),
        "B's ztunnel authenticated A's client itself (inner mTLS), not the gateway",
      );
      for (const w of web) t.equal((await w.agent.stats())['8080']!.open, 0, `nothing left open on ${w.name}`);
    });
  });
}
