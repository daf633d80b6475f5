import t from 'tap';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../wire';
import { addressAliases, Encoder, fullDelta } from './index';

t.test('on-demand aliases are network/ip for workload IPs and service VIPs', async (t) => {
  const v6 = Buffer.from('fd000000000000000000000000000001', 'hex');
  t.same(addressAliases({ workload: { network: 'n1', addresses: [Buffer.from([10, 0, 0, 7]), v6] } }), [
    'n1/10.0.0.7',
    'n1/fd00::1',
  ]);
  t.same(addressAliases({ service: { addresses: [{ address: Buffer.from([10, 96, 0, 1]) }, { network: 'n2' }] } }), [
    '/10.96.0.1',
  ]);
  t.same(addressAliases({ workload: { addresses: [] } }), []);
});

t.test("the Encoder's Address entries read addressAliases of their message from their frames", async (t) => {
  const wire = loadWire();
  const enc = new Encoder(
    wire,
    new Map([
      [TYPE_ADDRESS, wire.Address],
      [TYPE_AUTHORIZATION, wire.Authorization],
    ]),
  );
  const ip = (...b: number[]): Buffer => Buffer.from(b);
  const v6 = Buffer.from('fd000000000000000000000000000002', 'hex');
  const long = 'Kubernetes//Pod/apps/a-name-long-enough-for-its-copies-to-be-packed-out';
  const msgs = new Map<string, object>([
    // Fields on both sides of addresses (3) and network (4): the frame reader stops only past them.
    [
      'w/two-ips',
      {
        workload: {
          uid: 'w/two-ips',
          name: 'p',
          namespace: 'apps',
          network: 'net-a',
          addresses: [ip(10, 1, 2, 3), v6],
          tunnelProtocol: 1,
          serviceAccount: 'sa',
        },
      },
    ],
    ['w/no-network', { workload: { uid: 'w/no-network', name: 'p', addresses: [ip(10, 9, 9, 9)] } }],
    ['w/none', { workload: { uid: 'w/none', name: 'p', network: 'net-a' } }],
    // The uid as Workload.name too: the entry is stored packed, and its frame is put back together to be read.
    [long, { workload: { uid: long, name: long, network: 'net-ü', addresses: [ip(192, 168, 0, 1)] } }],
    [
      'apps/svc.apps.svc.cluster.local',
      {
        service: {
          name: 'svc',
          namespace: 'apps',
          hostname: 'svc.apps.svc.cluster.local',
          addresses: [
            { network: 'net-a', address: ip(10, 96, 0, 1) },
            { address: v6 },
            { network: 'net-b' }, // no address: no key
            { network: 'net-b', address: ip(10, 96, 0, 2) },
          ],
          ports: [{ servicePort: 80, targetPort: 8080 }],
        },
      },
    ],
  ]);
  const entries = enc.encode(fullDelta(TYPE_ADDRESS, msgs)).upserts ?? [];
  t.equal(entries.length, msgs.size);
  t.ok(
    entries.some((e) => e.storedLength < e.length),
    'one entry is stored packed',
  );
  const want = [...msgs.values()].map((m) => addressAliases(m));
  t.same(
    entries.map((e) => e.aliases),
    want,
  );
  t.same(want[0], ['net-a/10.1.2.3', 'net-a/fd00::2'], 'the reference itself is what ztunnel asks for');
  t.same(want[4], ['net-a/10.96.0.1', '/fd00::2', 'net-b/10.96.0.2']);
  const authz = enc.encode(fullDelta(TYPE_AUTHORIZATION, new Map([['ns/p', { name: 'p', namespace: 'ns' }]])));
  t.same(authz.upserts?.[0]?.aliases, [], 'other types have none');
});
