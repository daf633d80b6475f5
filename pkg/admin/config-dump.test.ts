import t from 'tap';
import { loadWire } from '../wire';
import { buildConfigDump, ADDRESS_TYPE, AUTHORIZATION_TYPE } from './config-dump';
import { normalisePeer } from './peers';
import type { CacheEntryView, CacheView } from './views';

const wire = loadWire();
const ip4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));

/** Frames built with protobufjs's generic encoder, independent of pkg/wire's hand-rolled one. */
function frame(typeUrl: string, name: string, value: Uint8Array): CacheEntryView {
  const bytes = wire.DeltaDiscoveryResponse.encode(
    wire.DeltaDiscoveryResponse.fromObject({
      typeUrl,
      nonce: 'n',
      resources: [{ name, version: 'v1', resource: { typeUrl, value } }],
    }),
  ).finish();
  return { name, version: 'v1', frame: bytes };
}

function cache(entries: Record<string, CacheEntryView[]>): CacheView {
  return { seq: 7, entries: (t: string) => entries[t] ?? [] };
}

const addr = (o: object): Uint8Array => wire.Address.encode(wire.Address.fromObject(o)).finish();
const authz = (o: object): Uint8Array => wire.Authorization.encode(wire.Authorization.fromObject(o)).finish();

t.test('workloads, services and policies in ztunnel config_dump spelling', async (t) => {
  const w2 = {
    workload: {
      uid: 'c1//Pod/ns/b',
      name: 'b',
      namespace: 'ns',
      addresses: [Buffer.from('fd000000000000000000000000000001', 'hex')],
      network: 'net1',
      tunnelProtocol: 0,
      status: 1,
      workloadType: 2,
      clusterId: 'c1',
      trustDomain: '',
      serviceAccount: '',
      waypoint: { address: { network: 'net1', address: ip4('10.1.0.9') }, hboneMtlsPort: 15008 },
      networkGateway: {
        hostname: { namespace: 'istio-system', hostname: 'ew.istio-system.svc.cluster.local' },
        hboneMtlsPort: 15008,
      },
      locality: { region: 'r1', zone: 'z1' },
      applicationTunnel: { protocol: 1, port: 15088 },
      capacity: { value: 5 },
      services: {
        'ns/svc.ns.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 8080 }] },
        'ns/missing.ns.svc.cluster.local': { ports: [] },
      },
    },
  };
  const w1 = {
    workload: {
      uid: 'c1//Pod/ns/a',
      name: 'a',
      namespace: 'ns',
      addresses: [ip4('10.0.0.1')],
      tunnelProtocol: 1,
      serviceAccount: 'sa-a',
      trustDomain: 'td',
    },
  };
  const svc = {
    service: {
      name: 'svc',
      namespace: 'ns',
      hostname: 'svc.ns.svc.cluster.local',
      addresses: [
        { network: 'net1', address: ip4('10.96.0.1') },
        { network: '', address: ip4('10.200.0.0'), length: 24 },
      ],
      ports: [
        { servicePort: 80, targetPort: 8080 },
        { servicePort: 443, targetPort: 0 },
      ],
      loadBalancing: { routingPreference: [6, 1], mode: 2, healthPolicy: 1 },
      visibility: 1,
      ipFamilies: 1,
      weightedWaypoints: [
        { destination: { address: { network: '', address: ip4('10.1.0.10') }, hboneMtlsPort: 15008 }, weight: 3 },
      ],
    },
  };
  const pol = {
    name: 'p',
    namespace: 'ns',
    scope: 2,
    action: 1,
    dryRun: true,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                namespaces: [{ exact: 'a' }],
                principals: [{ prefix: 'td/ns/x' }, { presence: {} }],
                sourceIps: [{ address: ip4('10.0.0.0'), length: 8 }],
                destinationPorts: [80, 443],
                notServiceAccounts: [{ namespace: 'ns', serviceAccount: 'bad' }],
              },
            ],
          },
        ],
      },
    ],
  };
  const c = cache({
    [ADDRESS_TYPE]: [
      frame(ADDRESS_TYPE, 'c1//Pod/ns/b', addr(w2)),
      frame(ADDRESS_TYPE, 'ns/svc.ns.svc.cluster.local', addr(svc)),
      frame(ADDRESS_TYPE, 'c1//Pod/ns/a', addr(w1)),
    ],
    [AUTHORIZATION_TYPE]: [frame(AUTHORIZATION_TYPE, 'ns/p', authz(pol))],
  });
  const d = buildConfigDump(wire, c);
  t.same(
    d.workloads.map((w) => w.uid),
    ['c1//Pod/ns/a', 'c1//Pod/ns/b'],
    'sorted by uid',
  );
  const [a, b] = d.workloads;
  t.match(a, {
    workloadIps: ['10.0.0.1'],
    protocol: 'HBONE',
    status: 'Healthy',
    serviceAccount: 'sa-a',
    trustDomain: 'td',
    clusterId: 'Kubernetes',
    capacity: 1,
    services: [],
  });
  t.same(b, {
    uid: 'c1//Pod/ns/b',
    workloadIps: ['fd00::1'],
    protocol: 'TCP',
    networkMode: 'Standard',
    name: 'b',
    namespace: 'ns',
    trustDomain: 'cluster.local',
    serviceAccount: 'default',
    workloadName: '',
    workloadType: 'pod',
    canonicalName: '',
    canonicalRevision: '',
    clusterId: 'c1',
    node: '',
    network: 'net1',
    status: 'Unhealthy',
    hostname: '',
    nativeTunnel: false,
    authorizationPolicies: [],
    services: ['ns/missing.ns.svc.cluster.local', 'ns/svc.ns.svc.cluster.local'],
    capacity: 5,
    waypoint: { destination: 'net1/10.1.0.9', hboneMtlsPort: 15008 },
    networkGateway: { destination: 'istio-system/ew.istio-system.svc.cluster.local', hboneMtlsPort: 15008 },
    locality: { region: 'r1', zone: 'z1', subzone: '' },
    applicationTunnel: { protocol: 'PROXY', port: 15088 },
  });
  t.same(d.services, [
    {
      name: 'svc',
      namespace: 'ns',
      hostname: 'svc.ns.svc.cluster.local',
      vips: ['net1/10.96.0.1'],
      cidrVips: ['/10.200.0.0/24'],
      ports: { 80: 8080, 443: 0 },
      endpoints: {
        'c1//Pod/ns/b': {
          workloadUid: 'c1//Pod/ns/b',
          service: 'ns/svc.ns.svc.cluster.local',
          port: { 80: 8080 },
          status: 'Unhealthy',
        },
      },
      subjectAltNames: [],
      ipFamilies: 'IPv4',
      canonical: false,
      visibility: 'Namespace',
      weightedWaypoints: [{ destination: '/10.1.0.10', weight: 3 }],
      loadBalancer: { routingPreferences: ['Network', 'Region'], mode: 'Failover', healthPolicy: 'AllowAll' },
    },
  ]);
  t.same(d.policies, [
    {
      name: 'p',
      namespace: 'ns',
      scope: 'WorkloadSelector',
      action: 'Deny',
      dryRun: true,
      rules: [
        [
          [
            {
              namespaces: [{ Exact: 'a' }],
              principals: [{ Prefix: 'td/ns/x' }, { Presence: [] }],
              sourceIps: ['10.0.0.0/8'],
              destinationPorts: [80, 443],
              notServiceAccounts: [{ namespace: 'ns', serviceAccount: 'bad' }],
            },
          ],
        ],
      ],
    },
  ]);
  const only = buildConfigDump(wire, c, new Set(['c1//Pod/ns/a']));
  t.same(
    [only.workloads.length, only.services.length, only.policies.length],
    [1, 0, 0],
    'a name filter restricts the dump',
  );
});

t.test('peer status normalisation accepts the shapes a peering layer may report', async (t) => {
  const solo = normalisePeer({
    name: 'p1',
    conditions: [
      { type: 'gloo.solo.io/PeerConnected', status: 'True', reason: 'Programmed' },
      { type: 'gloo.solo.io/PeeringSucceeded', status: 'False', reason: 'Pending', message: 'network not yet synced' },
    ],
  });
  t.equal(solo.conditions.Connected.status, 'True');
  t.same(solo.conditions.Synced, {
    status: 'False',
    reason: 'Pending',
    message: 'network not yet synced',
    lastTransitionTime: null,
  });
  t.same(solo.conditions.DataPlaneProgrammed, {
    status: 'Unknown',
    reason: 'NotReported',
    message: '',
    lastTransitionTime: null,
  });
  const flat = normalisePeer({
    peer: 'p2',
    connected: true,
    synced: false,
    lastSyncAt: 0,
    stale: true,
    conflicts: ['net/10.0.0.1 twice'],
  });
  t.equal(flat.name, 'p2');
  t.equal(flat.conditions.Connected.status, 'True');
  t.equal(flat.conditions.Synced.status, 'False');
  t.equal(flat.lastSyncTime, null);
  t.equal(flat.stale, true);
  t.same(flat.conflicts, [{ kind: '', key: '', owners: [], reason: 'net/10.0.0.1 twice' }]);
  t.equal(normalisePeer(null).conditions.Connected.status, 'Unknown', 'garbage in, Unknown out');
});
