import t from 'tap';
import { LocalRegistry } from '../../registry';
import { createSilentLogger } from '../../log';
import { systemClock } from '../../lifecycle';
import type { GatewayObj } from '../../model';
import { declaredPeers, eastWestService, localEastWest, nodeAddresses, validatePeerGateway } from './declare';

// Pure declaration/export helpers over a real registry snapshot (objects go
// through the same normalisation as the file and Kubernetes sources).

function snapshotOf(objs: Record<string, unknown>[]) {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  reg.replaceSource(
    'test',
    objs.map((obj) => ({ obj })),
  );
  return reg.snapshot();
}

const eastWest = (o: { annotations?: Record<string, string>; hbone?: number; name?: string } = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: {
    name: o.name ?? 'istio-eastwest',
    namespace: 'istio-gateways',
    labels: { 'topology.istio.io/network': 'n1' },
    annotations: o.annotations ?? { 'peering.solo.io/data-plane-service-type': 'NodePort' },
  },
  spec: {
    gatewayClassName: 'istio-eastwest',
    listeners: [
      { name: 'cross-network', port: o.hbone ?? 15008, protocol: 'HBONE' },
      { name: 'xds-tls', port: 15012, protocol: 'TLS' },
    ],
  },
});
const ewService = (o: {
  name?: string;
  owner?: string;
  ports: { port: number; nodePort?: number; protocol?: string }[];
}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: o.name ?? 'istio-eastwest',
    namespace: 'istio-gateways',
    labels: o.owner ? { 'gateway.networking.k8s.io/gateway-name': o.owner } : {},
  },
  spec: { type: 'NodePort', clusterIP: '10.96.0.9', selector: { app: 'ew' }, ports: o.ports },
});
const node = (name: string, addresses: { type: string; address: string }[], labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels },
  status: { addresses },
});

t.test(
  'node addresses: InternalIP preferred, ExternalIP as fallback, odd or missing ones skipped, sorted',
  async (t) => {
    const s = snapshotOf([
      node(
        'n-b',
        [
          { type: 'ExternalIP', address: '203.0.113.2' },
          { type: 'InternalIP', address: '10.0.0.2' },
          { type: 'InternalIP', address: 'fd00::2' },
        ],
        { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' },
      ),
      node('n-a', [
        { type: 'ExternalIP', address: '203.0.113.1' },
        { type: 'Hostname', address: 'n-a' },
      ]),
      node(
        'n-c',
        [
          { type: 'Hostname', address: 'n-c' },
          { type: 'InternalIP', address: 'not-an-ip' },
        ],
        { 'topology.kubernetes.io/zone': 'z9' },
      ),
      node('n-d', []),
    ]);
    t.equal(s.rejected.length, 0, 'an odd address never rejects the Node (its labels give workloads their locality)');
    t.same(s.nodes.get('n-c')!.labels, { 'topology.kubernetes.io/zone': 'z9' });
    const ns = nodeAddresses(s);
    t.same(
      ns.map((n) => n.name),
      ['n-a', 'n-b'],
      'nodes without a usable IP are skipped; sorted by name',
    );
    t.same(
      ns[0]!.addresses.map((b) => [...b].join('.')),
      ['203.0.113.1'],
      'ExternalIP when there is no InternalIP',
    );
    t.same(
      ns[1]!.addresses.map((b) => b.length),
      [4, 16],
      'every InternalIP (v4 and v6), no ExternalIP',
    );
    t.same(ns[1]!.locality, { region: 'r1', zone: 'z1' });
    t.notOk(ns[0]!.locality);
  },
);

t.test('the east-west Service: same namespace and name; a gateway-name label must name this Gateway', async (t) => {
  const gwOf = (s: ReturnType<typeof snapshotOf>): GatewayObj => s.gateways.get('istio-gateways/istio-eastwest')!;
  let s = snapshotOf([eastWest(), ewService({ owner: 'istio-eastwest', ports: [{ port: 15008, nodePort: 31008 }] })]);
  t.equal(eastWestService(s, gwOf(s))?.name, 'istio-eastwest');
  s = snapshotOf([eastWest(), ewService({ ports: [{ port: 15008, nodePort: 31008 }] })]);
  t.ok(eastWestService(s, gwOf(s)), 'an unlabelled same-name Service (user-managed gateway) counts');
  s = snapshotOf([eastWest(), ewService({ owner: 'other', ports: [{ port: 15008, nodePort: 31008 }] })]);
  t.notOk(eastWestService(s, gwOf(s)), 'labelled for another Gateway');
  s = snapshotOf([
    eastWest(),
    ewService({
      name: 'istio-eastwest-istio-eastwest',
      owner: 'istio-eastwest',
      ports: [{ port: 15008, nodePort: 31008 }],
    }),
  ]);
  t.notOk(eastWestService(s, gwOf(s)), 'the east-west class has no name suffix');
});

t.test('localEastWest: NodePort data from the Service port of the HBONE listener and the Nodes', async (t) => {
  const nodes = [node('n1', [{ type: 'InternalIP', address: '10.0.0.1' }])];
  let ew = localEastWest(
    snapshotOf([
      eastWest(),
      ewService({
        owner: 'istio-eastwest',
        ports: [
          { port: 15012, nodePort: 31012 },
          { port: 15008, nodePort: 31008 },
        ],
      }),
      ...nodes,
    ]),
  )!;
  t.equal(ew.msg.nodePort, true);
  t.equal(ew.msg.hboneNodePort, 31008, 'the 15008 port, not the first one');
  t.same(
    ew.nodes.map((n) => n.name),
    ['n1'],
  );
  ew = localEastWest(
    snapshotOf([
      eastWest({ hbone: 15009 }),
      ewService({
        ports: [
          { port: 15008, nodePort: 31008 },
          { port: 15009, nodePort: 31009 },
        ],
      }),
      ...nodes,
    ]),
  )!;
  t.equal(ew.msg.hbonePort, 15009);
  t.equal(ew.msg.hboneNodePort, 31009, 'follows the HBONE listener port');
  ew = localEastWest(
    snapshotOf([eastWest(), ewService({ ports: [{ port: 15008, nodePort: 31008, protocol: 'UDP' }] }), ...nodes]),
  )!;
  t.notOk(ew.msg.hboneNodePort, 'HBONE is TCP');
  ew = localEastWest(snapshotOf([eastWest(), ewService({ ports: [{ port: 15008 }] }), ...nodes]))!;
  t.notOk(ew.msg.hboneNodePort, 'a ClusterIP-style port has no nodePort');
  ew = localEastWest(
    snapshotOf([eastWest({ annotations: {} }), ewService({ ports: [{ port: 15008, nodePort: 31008 }] }), ...nodes]),
  )!;
  t.notOk(ew.msg.nodePort, 'not in NodePort mode without the annotation');
  t.notOk(ew.msg.hboneNodePort);
  t.same(ew.nodes, [], 'and no nodes');
  ew = localEastWest(
    snapshotOf([
      eastWest({
        annotations: {
          'peering.solo.io/data-plane-service-type': 'nodeport',
          'peering.solo.io/hbone-node-port': '30000',
          'peering.solo.io/node-addresses': 'x=10.9.9.9',
        },
      }),
    ]),
  )!;
  t.notOk(ew.msg.hboneNodePort, 'the old stand-in annotations are not read');
  t.same(ew.nodes, []);
});

t.test('a peer declaration naming a trust domain without roots is invalid', async (t) => {
  const gw = snapshotOf([
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: {
        name: 'peer',
        namespace: 'istio-gateways',
        labels: { 'topology.istio.io/network': 'n2' },
        annotations: { 'gateway.istio.io/trust-domain': 'td-b' },
      },
      spec: {
        gatewayClassName: 'istio-remote',
        addresses: [{ type: 'IPAddress', value: '127.0.0.1' }],
        listeners: [{ name: 'xds-tls', port: 15012, protocol: 'TLS' }],
      },
    },
  ]).gateways.get('istio-gateways/peer')!;
  const opts = { localTrustDomain: 'td-a', peerIdentity: 'istio-system/istiod' };
  t.match(validatePeerGateway(gw, { ...opts, trustDomains: ['td-a'] }), {
    reason: /trust domain "td-b" has no roots configured \(peering\.trustBundles\)/,
  });
  const ok = validatePeerGateway(gw, { ...opts, trustDomains: ['td-a', 'td-b'] });
  t.match(ok, { trustDomain: 'td-b', peerSpiffeId: 'spiffe://td-b/ns/istio-system/sa/istiod' });
  t.match(
    validatePeerGateway(gw, opts),
    { trustDomain: 'td-b' },
    'no list given: not restricted (callers without configuration)',
  );
});

const remoteGw = (
  name: string,
  o: { addresses: string[]; xds?: number; network?: string; td?: string; zone?: string },
) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: {
    name,
    namespace: 'istio-gateways',
    labels: {
      'topology.istio.io/network': o.network ?? 'net-a',
      'topology.istio.io/cluster': 'cluster-a',
      ...(o.zone ? { 'topology.kubernetes.io/zone': o.zone } : {}),
    },
    annotations: o.td ? { 'gateway.istio.io/trust-domain': o.td } : {},
  },
  spec: {
    gatewayClassName: 'istio-remote',
    addresses: o.addresses.map((value) => ({ type: /^[0-9.]+$/.test(value) ? 'IPAddress' : 'Hostname', value })),
    listeners: [
      { name: 'cross-network', port: 15008, protocol: 'HBONE' },
      { name: 'xds-tls', port: o.xds ?? 15012, protocol: 'TLS' },
    ],
  },
});

t.test(
  'several gateways per peer: every address of every agreeing Gateway; a disagreeing one is a Duplicate',
  async (t) => {
    const opts = {
      localCluster: 'cluster-b',
      localTrustDomain: 'cluster.local',
      peerIdentity: 'istio-system/istiod',
      trustDomains: ['cluster.local', 'td-x'],
    };
    const d = declaredPeers(
      snapshotOf([
        remoteGw('a-1', { addresses: ['10.0.0.1', 'ew.a.example'], zone: 'z1' }),
        remoteGw('a-2', { addresses: ['10.0.0.2'], xds: 16012, zone: 'z2' }),
        remoteGw('a-3', { addresses: ['10.0.0.3'], td: 'td-x' }),
      ]),
      opts,
    );
    t.equal(d.peers.length, 1, 'one peer');
    const p = d.peers[0]!;
    t.same(
      p.gateways.map((g) => [g.id, g.address.type, g.xdsPort, g.locality?.zone]),
      [
        ['istio-gateways/a-1|10.0.0.1', 'IPAddress', 15012, 'z1'],
        ['istio-gateways/a-1|ew.a.example', 'Hostname', 15012, 'z1'],
        ['istio-gateways/a-2|10.0.0.2', 'IPAddress', 16012, 'z2'],
      ],
    );
    t.equal(p.key, 'istio-gateways/a-1', 'the first Gateway describes the peer');
    t.same(d.joined, [{ key: 'istio-gateways/a-2', cluster: 'cluster-a', kept: 'istio-gateways/a-1' }]);
    t.match(
      d.duplicates,
      [{ key: 'istio-gateways/a-3', reason: /trust domain/ }],
      'another trust domain is another link: Duplicate',
    );
    const bad = validatePeerGateway(
      snapshotOf([remoteGw('a-4', { addresses: ['10.0.0.4', 'bad_name!'] })]).gateways.get('istio-gateways/a-4')!,
      opts,
    );
    t.match(bad, { reason: 'spec.addresses[1] "bad_name!" is not a valid hostname' }, 'every address is validated');
  },
);
