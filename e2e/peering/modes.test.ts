import t from 'tap';
import { makePki, startCluster, ns, service, pods, eastWest, remote, held, until } from './harness';

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

t.test(
  'flat network: remote pods become real workloads; an address collision is reported, never shadowing',
  async (t) => {
    const a = await startCluster({
      name: 'cluster-a',
      network: 'flat-net',
      pki: pki.dir,
      files: {
        'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
        'svc.yaml': service('web', 'shop'),
        'pods.yaml': pods('web', 'shop', 2, '10.1'),
      },
    });
    t.teardown(() => a.close());
    const b = await startCluster({
      name: 'cluster-b',
      network: 'flat-net',
      pki: pki.dir,
      files: {
        'ns.yaml': ns('shop'),
        // B's own pod reuses A's web-0 address 10.1.0.1: flat networks need unique pod CIDRs.
        'pods.yaml': pods('clash', 'shop', 1, '10.1'),
        'peer.yaml': remote({
          cluster: 'cluster-a',
          network: 'flat-net',
          port: a.port,
          labels: { 'topology.kubernetes.io/region': 'r1' },
        }),
      },
    });
    t.teardown(() => b.close());
    const z = b.ztunnel();
    z.connect();
    const w1 = (await until('remote pod web-1 imported', () => held(z, 'cluster-a//Pod/shop/web-1')))!.workload;
    t.same([...w1.addresses[0]], [10, 1, 0, 2]);
    t.equal(w1.network, 'flat-net');
    t.equal(w1.clusterId, 'cluster-a');
    t.equal(w1.serviceAccount, 'web');
    t.equal(w1.tunnelProtocol, 1);
    t.same(w1.services['shop/web.shop.mesh.internal'].ports, [{ servicePort: 80, targetPort: 8080 }]);
    t.same(w1.locality, { region: 'r1' }, 'pod without locality falls back to the peer Gateway');
    t.notOk(w1.networkGateway, 'same network: no gateway');
    await until('collision reported', () => (b.peer('cluster-a')?.conflicts ?? []).length > 0);
    t.notOk(held(z, 'cluster-a//Pod/shop/web-0'), 'colliding remote pod not programmed');
    t.ok(held(z, 'cluster-b//Pod/shop/clash-0'), 'the local pod keeps its address');
    t.same(
      b.peer('cluster-a')!.conflicts![0],
      {
        kind: 'WorkloadAddress',
        key: 'flat-net/10.1.0.1',
        owners: ['local cluster-b//Pod/shop/clash-0', 'cluster-a cluster-a//Pod/shop/web-0'],
        reason: '10.1.0.1 of cluster-a/shop/web-0 collides with local cluster-b//Pod/shop/clash-0',
      },
      'the conflict names its kind, key and both owners',
    );
    t.equal(b.cond('cluster-a', 'DataPlaneProgrammed'), 'False');
    const dp = b.peer('cluster-a')!.conditions.find((c) => c.type === 'DataPlaneProgrammed')!;
    t.equal(dp.reason, 'AddressConflict');
    t.ok(dp.lastTransitionTime && Date.parse(dp.lastTransitionTime) > 0, 'lastTransitionTime set');
    t.equal(b.peer('cluster-a')!.mode, 'flat');
    t.notOk(
      [...z.held('type.googleapis.com/istio.workload.Address').keys()].some((k) => k.includes('SplitHorizon')),
      'no gateway endpoint in flat mode',
    );
    t.ok(held(z, 'shop/web.shop.mesh.internal'), 'global service present');
    // The collision goes away once B's pod is gone.
    b.remove('pods.yaml');
    await until('web-0 programmed after the clash is removed', () => held(z, 'cluster-a//Pod/shop/web-0'));
    await until('condition recovers', () => b.cond('cluster-a', 'DataPlaneProgrammed') === 'True');
  },
);

t.test("NodePort mode: the gateway is a hostname backed by the peer's node addresses and HBONE nodePort", async (t) => {
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
      'svc.yaml': service('web', 'shop'),
      'pods.yaml': pods('web', 'shop', 1, '10.1'),
      'ew.yaml': eastWest({
        network: 'net-a',
        cluster: 'cluster-a',
        annotations: { 'peering.solo.io/data-plane-service-type': 'NodePort' },
      }),
      // NodePort data comes from the registry: the gateway's Service (HBONE port's nodePort) and the Nodes'
      // InternalIPs.
      'ew-svc.yaml':
        `apiVersion: v1
kind: Service
metadata: { name: istio-eastwest, namespace: istio-gateways, ` +
        `labels: { gateway.networking.k8s.io/gateway-name: istio-eastwest } }
spec:
  type: NodePort
  clusterIP: 10.96.0.99
  selector: { gateway.networking.k8s.io/gateway-name: istio-eastwest }
  ports: [{ name: tls-hbone, port: 15008, nodePort: 31008 }, { name: tls-xds, port: 15012, nodePort: 31012 }]
`,
      'nodes.yaml': ['node-1', 'node-2']
        .map(
          (n, i) => `apiVersion: v1
kind: Node
metadata: { name: ${n} }
status: { addresses: [{ type: Hostname, address: ${n} }, { type: InternalIP, address: 127.0.10.${i + 1} }] }
`,
        )
        .join('---\n'),
    },
  });
  t.teardown(() => a.close());
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
      // Invalid declarations: reported, never dialled.
      'bad.yaml': [
        remote({
          name: 'np-no-sa',
          cluster: 'cluster-x',
          network: 'net-x',
          port: 1,
          annotations: {
            'peering.solo.io/preferred-data-plane-service-type': 'nodeport',
            'gateway.istio.io/service-account': '',
          },
        }),
        remote({ name: 'self', cluster: 'cluster-b', network: 'net-b', port: 1 }),
        remote({ name: 'zz-dup', cluster: 'cluster-a', network: 'net-a', port: 1 }),
      ].join('---\n'),
    },
  });
  t.teardown(() => b.close());
  const z = b.ztunnel();
  z.connect();
  const host = 'node.istio-eastwest.net-a.mesh.internal';
  const svc = (await until('node gateway service', () => held(z, `istio-system/${host}`)))!.service;
  t.same(svc.ports, [{ servicePort: 15008, targetPort: 31008 }]);
  const n1 = (await until('node workload', () => held(z, 'cluster-a//Node/node-1')))!.workload;
  t.same([...n1.addresses[0]], [127, 0, 10, 1]);
  t.equal(n1.network, 'net-a');
  t.same(n1.services[`istio-system/${host}`].ports, [{ servicePort: 15008, targetPort: 31008 }]);
  t.ok(held(z, 'cluster-a//Node/node-2'));
  const sw = (await until('split-horizon via node hostname', () =>
    held(z, 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal'),
  ))!.workload;
  t.same(sw.networkGateway.hostname, { namespace: 'istio-system', hostname: host });
  t.equal(sw.networkGateway.hboneMtlsPort, 15008);
  t.notOk(sw.networkGateway.address);
  await until('programmed', () => b.cond('cluster-a', 'DataPlaneProgrammed') === 'True');
  t.equal(b.peer('cluster-a')!.mode, 'nodeport');
  const st = b.peering.status();
  const by = (g: string) => st.find((s) => s.gateway === `istio-gateways/${g}`);
  t.equal(by('np-no-sa')!.conditions[0]!.reason, 'Invalid');
  t.match(by('np-no-sa')!.conditions[0]!.message, /service-account/);
  t.equal(by('self')!.conditions[0]!.reason, 'LocalCluster');
  t.equal(by('zz-dup')!.conditions[0]!.reason, 'Duplicate');
  t.notOk(b.peer('cluster-x'), 'invalid peer never dialled');
});
