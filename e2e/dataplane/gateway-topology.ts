import type { Rig, RigCluster } from './harness';
import * as y from './mesh-yaml';
import { startGateway, type GatewayProc } from './gateway-proc';
import { ip } from './netns';
import { addWebPod, exportWeb, SHOP_NS, WEB_GLOBAL_HOST, type Pair } from './topologies';

/**
 * Clusters on different networks (docs/design/hbone.md, Test rig). Each cluster's pods and
 * control plane sit on its own network's bridge; nothing routes between bridges. A cluster that exports
 * services gets an edge: its control-plane namespace gains a leg on each consumer network, with
 *  - the "LoadBalancer" address: peers dial the east-west gateway there on 15008 and the daemon (exposed as
 *    istio's expose-istiod does) on 15012;
 *  - a node address: kube-proxy's NodePort rule, 31008 → the gateway's 15008, as an iptables REDIRECT.
 * The gateway process runs in that namespace, so it reaches its own cluster's pods on their :15008 and
 * nothing else; forwarding stays off, so only double HBONE crosses.
 */
export const NODE_PORT = 31008;

export interface Edge {
  /** The exporter's LoadBalancer-style address per consumer network. */
  lb: Record<string, string>;
  /** The exporter's node address per consumer network (NodePort form). */
  node: Record<string, string>;
}

/** Gives cluster `c` an edge on each consumer network. */
export async function addEdge(rig: Rig, c: RigCluster, consumers: string[]): Promise<Edge> {
  const t = rig.topology;
  const edge: Edge = { lb: {}, node: {} };
  let i = 1;
  for (const n of consumers) {
    await t.bridge(n);
    const lb = t.allocate(n);
    const node = t.allocate(n);
    const ifname = `ext${i++}`;
    await t.attach(c.cpNs, n, ifname, [lb, node]);
    edge.lb[n] = lb;
    edge.node[n] = node;
    // kube-proxy's NodePort: a connection to node:31008 lands on the gateway's 15008 in this namespace.
    await ip([
      'netns',
      'exec',
      c.cpNs,
      'iptables',
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-d',
      node,
      '-p',
      'tcp',
      '--dport',
      String(NODE_PORT),
      '-j',
      'REDIRECT',
      '--to-ports',
      '15008',
    ]);
  }
  return edge;
}

/** Connections that came in through the NodePort rule of an edge (iptables' packet counter, SYNs only: nat). */
export async function nodePortHits(c: RigCluster): Promise<number> {
  const out = await ip(['netns', 'exec', c.cpNs, 'iptables', '-t', 'nat', '-L', 'PREROUTING', '-v', '-n', '-x']);
  let n = 0;
  for (const l of out.split('\n')) if (l.includes(`dpt:${NODE_PORT}`)) n += Number(l.trim().split(/\s+/)[0]);
  return n;
}

/** The exporter's side of peering: its istio-eastwest Gateway and, for NodePort, the Service and Nodes. */
export function eastWestObjects(c: RigCluster, edge: Edge, consumer: string, o: { nodePort?: boolean } = {}): string {
  const docs = [
    y.eastWestGateway({
      cluster: c.name,
      network: c.network,
      address: edge.lb[consumer]!,
      annotations: o.nodePort ? { 'peering.solo.io/data-plane-service-type': 'NodePort' } : {},
    }),
  ];
  if (o.nodePort) {
    docs.push(
      y.service({
        name: 'istio-eastwest',
        namespace: 'istio-gateways',
        clusterIP: c.nextVip(),
        type: 'NodePort',
        labels: { 'gateway.networking.k8s.io/gateway-name': 'istio-eastwest' },
        selector: { 'gateway.networking.k8s.io/gateway-name': 'istio-eastwest' },
        ports: [{ name: 'tls-hbone', port: 15008, targetPort: 15008, nodePort: NODE_PORT }],
      }),
    );
    docs.push(y.node(`${c.name}-node-1`, edge.node[consumer]!));
  }
  return y.join(docs);
}

/** The consumer's side: an istio-remote Gateway naming the exporter's edge. */
export function remoteFor(
  exporter: RigCluster,
  edge: Edge,
  consumer: RigCluster,
  o: { nodePort?: boolean } = {},
): string {
  return y.remoteGateway({
    cluster: exporter.name,
    network: exporter.network,
    address: edge.lb[consumer.network]!,
    annotations: o.nodePort ? { 'peering.solo.io/preferred-data-plane-service-type': 'nodeport' } : {},
  });
}

export interface GatewayPair extends Pair {
  gw: GatewayProc;
  edge: Edge;
}

/**
 * Two clusters on networks net-a and net-b; B exports `web` (two pods) behind its east-west gateway
 * (gateway-proc.ts), A runs a client.
 */
export async function gatewayPair(
  rig: Rig,
  o: { nodePort?: boolean; gatewayNodeArgs?: string[] } = {},
): Promise<GatewayPair> {
  const a = await rig.cluster({ name: 'cluster-a', network: 'net-a' });
  const b = await rig.cluster({ name: 'cluster-b', network: 'net-b' });
  const edge = await addEdge(rig, b, ['net-a']);
  exportWeb(b);
  b.write('40-eastwest.yaml', eastWestObjects(b, edge, 'net-a', o));
  a.write('10-shop.yaml', SHOP_NS);
  a.write('50-peer-b.yaml', remoteFor(b, edge, a, o));
  const gw = await startGateway(b, { nodeArgs: o.gatewayNodeArgs });
  const web = [await addWebPod(b, 'web-b-0'), await addWebPod(b, 'web-b-1')];
  const client = await a.addPod({ name: 'client', namespace: 'shop', labels: { app: 'client' } });
  await gw.untilRoute(WEB_GLOBAL_HOST, web.length);
  return { a, b, client, web, gw, edge };
}
