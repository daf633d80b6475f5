import t from 'tap';
import {
  allocateVips,
  preferredSlot,
  capacityBucket,
  serviceScope,
  explicitTakeover,
  loadBalancingFor,
  validatePeerGateway,
  Merger,
  Exporter,
  exportedServices,
  Takeover,
} from './index';
import { LocalRegistry } from '../registry';
import { createSilentLogger } from '../log';
import { systemClock } from '../lifecycle';
import { generateLocal } from '../translate';
import type { GatewayObj } from '../model';
import { loadWire } from '../wire';
import { PeerPartition, StringPool, DECODE_OPTS } from './state';
import { peeringTypes, PEERING_PROTO, TYPE_FEDERATED_SERVICE, validateImported } from './index';

t.test('capacity buckets: round down to a power of two, cap 2048', async (t) => {
  const cases: [number, number][] = [
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 2],
    [50, 32],
    [60, 32],
    [63, 32],
    [64, 64],
    [2047, 1024],
    [2048, 2048],
    [100_000, 2048],
  ];
  for (const [n, b] of cases) t.equal(capacityBucket(n), b, `${n} -> ${b}`);
});

t.test('scope: the service label wins over the namespace; istio.io/global exports', async (t) => {
  t.same(serviceScope({ labels: {} }, { 'solo.io/service-scope': 'global' }), { scope: 'global', exported: true });
  t.same(serviceScope({ labels: { 'solo.io/service-scope': 'cluster' } }, { 'solo.io/service-scope': 'global' }), {
    scope: 'cluster',
    exported: false,
  });
  t.same(serviceScope({ labels: { 'solo.io/service-scope': 'global-only' } }, {}), {
    scope: 'global-only',
    exported: true,
  });
  t.equal(serviceScope({ labels: { 'solo.io/service-scope': 'local' } }, undefined).exported, false);
  t.equal(
    serviceScope({ labels: { 'solo.io/service-scope': '' } }, { 'solo.io/service-scope': 'global' }).exported,
    false,
    'empty on the service means cluster',
  );
  t.equal(serviceScope({ labels: { 'istio.io/global': 'true' } }, undefined).exported, true);
  t.equal(
    explicitTakeover({ labels: { 'solo.io/service-takeover': 'false' } }, { 'solo.io/service-takeover': 'true' }),
    Takeover.FALSE,
  );
  t.equal(explicitTakeover({ labels: {} }, { 'solo.io/service-takeover': 'true' }), Takeover.TRUE);
});

t.test('VIPs: deterministic, inside 240.240/16, collision-safe by probing in hostname order', async (t) => {
  const hosts = Array.from({ length: 3000 }, (_, i) => `svc${i}.ns.mesh.internal`);
  const a = allocateVips(hosts);
  const b = allocateVips([...hosts].reverse());
  t.same([...a].sort(), [...b].sort(), 'same set -> same allocation regardless of order');
  t.equal(new Set(a.values()).size, hosts.length, 'no two hosts share a VIP');
  t.ok(
    [...a.values()].every((s) => s >= 1 && s <= 65534),
    'never .0.0 or .255.255',
  );
  // Force a collision: a reserved preferred slot moves the host to the next free one.
  const h = 'web.shop.mesh.internal';
  const p = preferredSlot(h);
  t.equal(allocateVips([h], new Set([p])).get(h), (p % 65534) + 1);
});

t.test('traffic distribution -> LoadBalancing', async (t) => {
  t.same(loadBalancingFor('PreferNetwork'), { routingPreference: [6], mode: 2 });
  t.same(loadBalancingFor('PreferRegion'), { routingPreference: [6, 1], mode: 2 });
  t.same(loadBalancingFor('PreferClose'), { routingPreference: [6, 1, 2, 3], mode: 2 });
  t.equal(loadBalancingFor('Any'), undefined);
});

const gw = (o: Partial<GatewayObj>): GatewayObj => ({
  kind: 'Gateway',
  name: 'peer',
  namespace: 'istio-gateways',
  gatewayClassName: 'istio-remote',
  labels: { 'topology.istio.io/network': 'n1' },
  annotations: {},
  addresses: [{ type: 'IPAddress', value: '127.0.0.2' }],
  statusAddresses: [],
  listeners: [],
  ...o,
});

t.test('istio-remote validation', async (t) => {
  const opts = { localTrustDomain: 'cluster.local', peerIdentity: 'istio-system/istiod' };
  const ok = validatePeerGateway(gw({}), opts);
  t.ok('key' in ok);
  if ('key' in ok) {
    t.equal(ok.cluster, 'n1', 'cluster defaults to the network');
    t.equal(ok.xdsPort, 15012);
    t.equal(ok.hbonePort, 15008);
    t.equal(ok.peerSpiffeId, 'spiffe://cluster.local/ns/istio-system/sa/istiod');
  }
  const td = validatePeerGateway(gw({ annotations: { 'gateway.istio.io/trust-domain': 'td-b' } }), opts);
  t.equal('key' in td && td.peerSpiffeId, 'spiffe://td-b/ns/istio-system/sa/istiod');
  t.match(validatePeerGateway(gw({ labels: {} }), opts), { reason: /network/ });
  t.match(
    validatePeerGateway(gw({ addresses: [], statusAddresses: [{ type: 'IPAddress', value: '1.2.3.4' }] }), opts),
    { reason: /status\.addresses/ },
  );
  t.match(validatePeerGateway(gw({ addresses: [] }), opts), { reason: /spec\.addresses is required/ });
  t.match(
    validatePeerGateway(gw({ annotations: { 'peering.solo.io/preferred-data-plane-service-type': 'nodeport' } }), opts),
    { reason: /service-account/ },
  );
  t.match(validatePeerGateway(gw({ addresses: [{ type: 'IPAddress', value: 'not-an-ip' }] }), opts), {
    reason: /not a valid IP/,
  });
  t.match(validatePeerGateway(gw({ gatewayClassName: 'istio' }), opts), { reason: /istio-remote/ });
});

t.test('exporter and merger reuse unchanged objects (the push Encoder then re-encodes nothing)', async (t) => {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const objs = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { 'solo.io/service-scope': 'global', 'istio.io/dataplane-mode': 'ambient' } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.1', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', labels: { app: 'web' } },
      spec: { serviceAccountName: 'web' },
      status: { phase: 'Running', podIP: '10.1.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
    },
  ];
  reg.replaceSource(
    'test',
    objs.map((obj) => ({ obj })),
  );
  const snapshot = reg.snapshot();
  const mesh = {
    clusterId: 'c1',
    network: 'n1',
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    rootNamespace: 'istio-system',
  };
  const local = generateLocal({ snapshot, mesh }).output;
  const ex = new Exporter({ version: 'x', suffix: 'mesh.internal', now: () => 1 });
  const exported = exportedServices(snapshot, mesh);
  const e1 = ex.build(snapshot, mesh, local, exported);
  const e2 = ex.build(snapshot, mesh, local, exported);
  for (const [typeUrl, m] of e1)
    for (const [n, o] of m) t.equal(e2.get(typeUrl)!.get(n), o, `${typeUrl} ${n} identical`);
  // The encoder encodes messages as they are (no fromObject copy): they must be in protobufjs form.
  const types = peeringTypes(loadWire({ extraFiles: [PEERING_PROTO] }));
  for (const [typeUrl, m] of e1)
    for (const [n, o] of m) t.equal(types.get(typeUrl)!.verify(o), null, `${typeUrl} ${n} is in protobufjs form`);
  const m = new Merger();
  const input = {
    snapshot,
    mesh,
    local,
    exported,
    peers: [],
    suffix: 'mesh.internal',
    defaultTrafficDistribution: 'PreferNetwork',
  };
  const r1 = m.merge(input, () => undefined);
  const r2 = m.merge(input, () => undefined);
  t.ok(r1.addresses.has('shop/web.shop.mesh.internal'));
  for (const [n, o] of r1.addresses) t.equal(r2.addresses.get(n), o, `${n} identical`);
  const pod = r1.addresses.get('c1//Pod/shop/web-0') as { workload: { services: Record<string, unknown> } };
  t.ok(pod.workload.services['shop/web.shop.mesh.internal'], 'local pod also under the global hostname');
  t.not(pod, local.addresses.get('c1//Pod/shop/web-0'), 'a copy, the local message is untouched');
});

t.test(
  'partitions share equal imported content, keep their own origin stamps, and persist by re-encoding',
  async (t) => {
    const wire = loadWire({ extraFiles: [PEERING_PROTO] });
    const types = peeringTypes(wire);
    const FS = types.get(TYPE_FEDERATED_SERVICE)!;
    const pool = new StringPool();
    const decode = (origin: number, capacity: number) => {
      const b = FS.encode(
        FS.fromObject({
          name: 'web',
          namespace: 'shop',
          hostname: 'web.shop.mesh.internal',
          ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
          subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/web'],
          capacity,
          scope: 'global',
          originTimeUnixMs: origin,
        }),
      ).finish();
      return FS.toObject(FS.decode(b), DECODE_OPTS);
    };
    const a = new PeerPartition('a');
    const b = new PeerPartition('b');
    for (const [p, origin] of [
      [a, 1000],
      [b, 2000],
    ] as const) {
      const msg = decode(origin, 4);
      p.apply(
        TYPE_FEDERATED_SERVICE,
        pool.str('shop/web'),
        pool.str('v1'),
        pool.share(TYPE_FEDERATED_SERVICE, msg),
        origin,
      );
    }
    t.equal(a.services.get('shop/web'), b.services.get('shop/web'), 'equal content (origin aside): one shared object');
    t.equal(a.takeOrigin(), 1000);
    t.equal(b.takeOrigin(), 2000, 'each partition keeps the origin stamp it received');
    const c = decode(3000, 8);
    b.apply(TYPE_FEDERATED_SERVICE, 'shop/web', 'v2', pool.share(TYPE_FEDERATED_SERVICE, c), 3000);
    t.not(a.services.get('shop/web'), b.services.get('shop/web'), 'different content: different objects');
    t.equal(a.services.get('shop/web')!.capacity, 4, 'a shared object is never changed by another peer');
    const back = PeerPartition.deserialise(b.serialise(types), types, (u, n, m) =>
      validateImported(u, n, m, { cluster: 'b' }),
    );
    t.same(back.versions(TYPE_FEDERATED_SERVICE), { 'shop/web': 'v2' }, 'versions restore (reconnects echo them)');
    t.same(
      { ...back.services.get('shop/web'), originTimeUnixMs: undefined },
      { ...b.services.get('shop/web'), originTimeUnixMs: undefined },
      'content restores',
    );
  },
);
