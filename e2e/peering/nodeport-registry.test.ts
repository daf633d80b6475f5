import t from 'tap';
import { TYPE_CLUSTER_INFO, TYPE_PEER_NODE } from '../../pkg/peering';
import { ZtunnelClient } from '../harness/ztunnel-client';
import { makePki, startCluster, ns, service, pods, eastWest, remote, held, until, peeringWire } from './harness';
import type { LooseJson } from '../harness/loose-json';

// NodePort data of the export comes from the registry: the east-west Gateway's
// Service (spec.ports[].nodePort of the HBONE port) and the Nodes'
// status.addresses (InternalIP, else ExternalIP), not from Gateway annotations.

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

/** The Service istio renders for the east-west Gateway (same name, gateway-name label). */
function ewService(o: { hboneNodePort: number; owner?: string; name?: string }): string {
  return (
    `apiVersion: v1
kind: Service
metadata: { name: ${o.name ?? 'istio-eastwest'}, namespace: istio-gateways, ` +
    `labels: { gateway.networking.k8s.io/gateway-name: ${o.owner ?? 'istio-eastwest'} } }
spec:
  type: NodePort
  clusterIP: 10.96.0.99
  selector: { gateway.networking.k8s.io/gateway-name: istio-eastwest }
  ports:
  - { name: status-port, port: 15021, nodePort: 30021 }
  - { name: tls-hbone, port: 15008, nodePort: ${o.hboneNodePort} }
  - { name: tls-xds, port: 15012, nodePort: 31012 }
`
  );
}

function node(
  name: string,
  addresses: { type: string; address: string }[],
  labels: Record<string, string> = {},
): string {
  return `apiVersion: v1
kind: Node
metadata: { name: ${name}, labels: ${JSON.stringify(labels)} }
status:
  addresses: ${JSON.stringify(addresses)}
  conditions: [{ type: Ready, status: "True" }]
`;
}

const NODES = [
  // InternalIP preferred over ExternalIP.
  node(
    'node-1',
    [
      { type: 'Hostname', address: 'node-1' },
      { type: 'ExternalIP', address: '127.0.20.1' },
      { type: 'InternalIP', address: '127.0.10.1' },
    ],
    { 'topology.kubernetes.io/zone': 'z1' },
  ),
  // Only an ExternalIP: used.
  node('node-2', [{ type: 'ExternalIP', address: '127.0.20.2' }]),
  // No IP at all: no PeerNode.
  node('node-3', [{ type: 'Hostname', address: 'node-3' }]),
].join('---\n');

t.test('NodePort export reads the gateway Service nodePort and Node addresses from the registry', async (t) => {
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
      'svc.yaml': service('web', 'shop'),
      'pods.yaml': pods('web', 'shop', 2, '10.1'),
      'ew.yaml': eastWest({
        network: 'net-a',
        cluster: 'cluster-a',
        annotations: { 'peering.solo.io/data-plane-service-type': 'nodeport' },
      }),
      'ew-svc.yaml': ewService({ hboneNodePort: 31008 }),
      'nodes.yaml': NODES,
    },
  });
  t.teardown(() => a.close());

  // What a peer receives (our own serving identity is an allowed peer identity).
  const own = a.daemon.serving.current();
  const p = new ZtunnelClient({
    wire: peeringWire(),
    address: `127.0.0.1:${a.port}`,
    rootCaPem: a.daemon.authority.rootBundlePem(),
    serverName: 'istiod.istio-system.svc',
    clientCertPem: own.certChainPem,
    clientKeyPem: own.keyPem,
    types: [TYPE_CLUSTER_INFO, TYPE_PEER_NODE],
  });
  t.teardown(() => p.close());
  p.connect();
  const nodes = (): Map<string, { value: LooseJson }> => p.held(TYPE_PEER_NODE);
  await until('two PeerNodes', () => nodes().size === 2);
  t.same([...nodes().keys()].sort(), ['node-1', 'node-2'], 'a node without an IP address is not exported');
  const n1 = nodes().get('node-1')!.value;
  t.same(
    n1['addresses'].map((b: Buffer) => [...b].join('.')),
    ['127.0.10.1'],
    'InternalIP preferred',
  );
  t.equal(n1['hboneNodePort'], 31008, 'nodePort of the HBONE (15008) Service port');
  t.same(n1['locality'], { zone: 'z1' }, "the node's own locality when the gateway declares none");
  const n2 = nodes().get('node-2')!.value;
  t.same(
    n2['addresses'].map((b: Buffer) => [...b].join('.')),
    ['127.0.20.2'],
    'ExternalIP when there is no InternalIP',
  );
  t.equal(n2['hboneNodePort'], 31008);
  const ew = p.held(TYPE_CLUSTER_INFO).get('cluster')!.value['eastWestGateway'] as Record<string, unknown>;
  t.equal(ew['nodePort'], true);
  t.equal(ew['hboneNodePort'], 31008);
  t.equal(ew['hbonePort'], 15008);

  // The importer programs a hostname gateway backed by those nodes.
  const b = await startCluster({
    name: 'cluster-b',
    network: 'net-b',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('shop'),
      'peer.yaml': remote({
        cluster: 'cluster-a',
        network: 'net-a',
        port: a.port,
        annotations: { 'peering.solo.io/preferred-data-plane-service-type': 'nodeport' },
      }),
    },
  });
  t.teardown(() => b.close());
  const z = b.ztunnel();
  z.connect();
  const host = 'node.istio-eastwest.net-a.mesh.internal';
  const svc = (await until('node gateway service', () => held(z, `istio-system/${host}`)))!.service;
  t.same(svc.ports, [{ servicePort: 15008, targetPort: 31008 }]);
  const w1 = (await until('node-1 workload', () => held(z, 'cluster-a//Node/node-1')))!.workload;
  t.same([...w1.addresses[0]], [127, 0, 10, 1]);
  t.same(w1.services[`istio-system/${host}`].ports, [{ servicePort: 15008, targetPort: 31008 }]);
  t.ok(await until('node-2 workload', () => held(z, 'cluster-a//Node/node-2')));
  t.notOk(held(z, 'cluster-a//Node/node-3'));
  const sw = (await until('split-horizon via node hostname', () =>
    held(z, 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal'),
  ))!.workload;
  t.same(sw.networkGateway.hostname, { namespace: 'istio-system', hostname: host });
  t.equal(sw.networkGateway.hboneMtlsPort, 15008);
  t.equal(sw.capacity?.value, 2, 'capacity bucket of the two ready pods');
  await until('programmed', () => b.cond('cluster-a', 'DataPlaneProgrammed') === 'True');

  // A changed nodePort and a new node reach the importer.
  a.write('ew-svc.yaml', ewService({ hboneNodePort: 32008 }));
  a.write('nodes.yaml', `${NODES}---\n${node('node-4', [{ type: 'InternalIP', address: '127.0.10.4' }])}`);
  await until(
    'new nodePort imported',
    () => held(z, 'cluster-a//Node/node-4')?.workload.services[`istio-system/${host}`].ports[0].targetPort === 32008,
  );
  await until(
    'node-1 follows',
    () => held(z, 'cluster-a//Node/node-1')?.workload.services[`istio-system/${host}`].ports[0].targetPort === 32008,
  );

  // A node removed from the registry is withdrawn from the peer.
  a.write(
    'nodes.yaml',
    NODES.split('---\n')
      .filter((d) => !d.includes('node-2'))
      .join('---\n'),
  );
  await until('node-2 withdrawn', () => !held(z, 'cluster-a//Node/node-2'));
  t.ok(held(z, 'cluster-a//Node/node-1'));
});

t.test('a Service of the same name labelled for another Gateway is not the east-west Service', async (t) => {
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ew.yaml': eastWest({
        network: 'net-a',
        cluster: 'cluster-a',
        annotations: { 'peering.solo.io/data-plane-service-type': 'NodePort' },
      }),
      'ew-svc.yaml': ewService({ hboneNodePort: 31008, owner: 'someone-else' }),
      'nodes.yaml': NODES,
    },
  });
  t.teardown(() => a.close());
  const own = a.daemon.serving.current();
  const p = new ZtunnelClient({
    wire: peeringWire(),
    address: `127.0.0.1:${a.port}`,
    rootCaPem: a.daemon.authority.rootBundlePem(),
    serverName: 'istiod.istio-system.svc',
    clientCertPem: own.certChainPem,
    clientKeyPem: own.keyPem,
    types: [TYPE_CLUSTER_INFO, TYPE_PEER_NODE],
  });
  t.teardown(() => p.close());
  p.connect();
  const ci = await until('ClusterInfo', () => p.held(TYPE_CLUSTER_INFO).get('cluster'));
  const ew = ci!.value['eastWestGateway'] as Record<string, unknown>;
  t.equal(ew['nodePort'], true);
  t.notOk(ew['hboneNodePort'], 'no nodePort from a foreign Service');
  t.equal(p.held(TYPE_PEER_NODE).size, 0, 'no PeerNode without an HBONE nodePort');
  // Once the right Service exists, nodes are exported.
  a.write('ew-svc.yaml', ewService({ hboneNodePort: 31008 }));
  await until('nodes exported', () => p.held(TYPE_PEER_NODE).size === 2);
  t.equal(
    (p.held(TYPE_CLUSTER_INFO).get('cluster')!.value['eastWestGateway'] as Record<string, unknown>)['hboneNodePort'],
    31008,
  );
});
