import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE } from '../../pkg/peering';
import { makePki, leafFrom, startCluster, ns, service, pods, remote, held, until, peeringWire } from './harness';
import { startFakePeer } from './fake-peer';
import { ZtunnelClient } from '../harness/ztunnel-client';

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-c', 'cluster-f']);
t.teardown(() => pki.cleanup());
const A_FILES = {
  'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
  'svc.yaml': service('web', 'shop'),
  'pods.yaml': pods('web', 'shop', 1, '10.1'),
};

t.test('a peer with the wrong identity is refused on both sides', async (t) => {
  const a = await startCluster({ name: 'cluster-a', network: 'net-a', pki: pki.dir, files: A_FILES });
  t.teardown(() => a.close());
  // Same root, but its daemon identity is istio-system/rogue instead of istio-system/istiod.
  const c = await startCluster({
    name: 'cluster-c',
    network: 'net-c',
    pki: pki.dir,
    flags: { 'ca-identity': 'istio-system/rogue' },
    files: { ...A_FILES, 'peer.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.port }) },
  });
  t.teardown(() => c.close());
  a.write('peer.yaml', remote({ cluster: 'cluster-c', network: 'net-c', port: c.port }));
  // Client side (A dials C): the server certificate chains to our root but is not the expected SPIFFE id.
  await until('A refuses C', () => a.peer('cluster-c')?.lastTermination?.reason === 'server_identity');
  t.match(
    a.peer('cluster-c')!.lastTermination!.message,
    /want spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod/,
  );
  t.equal(a.cond('cluster-c', 'Connected'), 'False');
  t.equal(a.peer('cluster-c')!.services, 0);
  // Server side (C dials A): A authenticates the client certificate but refuses the identity.
  await until('C is refused by A', () => c.peer('cluster-a')?.lastTermination?.reason === 'permission_denied');
  t.equal(c.peer('cluster-a')!.services, 0);
  t.match(
    await a.daemon.metrics.metrics(),
    /ambientd_peer_terminations_total\{peer="cluster-c",reason="server_identity"\} [1-9]/,
  );
});

t.test(
  'a peer under an untrusted root is refused on both sides; ztunnel callers never see peering types',
  async (t) => {
    const a = await startCluster({ name: 'cluster-a', network: 'net-a', pki: pki.dir, files: A_FILES });
    t.teardown(() => a.close());
    const d = await startCluster({ name: 'cluster-d', network: 'net-d', files: A_FILES }); // its own self-signed root
    t.teardown(() => d.close());
    a.write('peer.yaml', remote({ cluster: 'cluster-d', network: 'net-d', port: d.port }));
    await until("A refuses D's server chain", () => a.peer('cluster-d')?.lastTermination?.reason === 'tls');
    t.equal(a.peer('cluster-d')!.services, 0);
    // D's serving certificate (istio-system/istiod, untrusted root) as a client of A.
    const dm = d.daemon.serving.current();
    const z = new ZtunnelClient({
      wire: peeringWire(),
      address: `127.0.0.1:${a.port}`,
      rootCaPem: a.daemon.authority.rootBundlePem(),
      serverName: 'istiod.istio-system.svc',
      clientCertPem: dm.certChainPem,
      clientKeyPem: dm.keyPem,
      types: [TYPE_FEDERATED_SERVICE],
    });
    t.teardown(() => z.close());
    z.connect();
    await until('A refuses the untrusted client', () => z.status);
    t.equal(z.status!.code, 16, 'UNAUTHENTICATED');
    t.equal(z.held(TYPE_FEDERATED_SERVICE).size, 0);
    // A ztunnel (token caller) asking for a peering type.
    const zt = a.ztunnel({ wire: peeringWire(), types: [TYPE_FEDERATED_SERVICE] });
    zt.connect();
    await until('ztunnel refused', () => zt.status);
    t.equal(zt.status!.code, 7, 'PERMISSION_DENIED');
    // A legitimate peer identity (our own serving cert) gets the peering types but no ztunnel types.
    const own = a.daemon.serving.current();
    const zp = new ZtunnelClient({
      wire: peeringWire(),
      address: `127.0.0.1:${a.port}`,
      rootCaPem: a.daemon.authority.rootBundlePem(),
      serverName: 'istiod.istio-system.svc',
      clientCertPem: own.certChainPem,
      clientKeyPem: own.keyPem,
      types: [TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE],
    });
    t.teardown(() => zp.close());
    zp.connect();
    const fsv = await until('peer identity reads FederatedService', () =>
      zp.held(TYPE_FEDERATED_SERVICE).get('shop/web'),
    );
    t.equal(fsv!.value['hostname'], 'web.shop.mesh.internal');
    t.equal(fsv!.value['capacity'], 1);
    t.equal(zp.held(TYPE_CLUSTER_INFO).get('cluster')!.value['clusterId'], 'cluster-a');
    const zp2 = new ZtunnelClient({
      wire: peeringWire(),
      address: `127.0.0.1:${a.port}`,
      rootCaPem: a.daemon.authority.rootBundlePem(),
      serverName: 'istiod.istio-system.svc',
      clientCertPem: own.certChainPem,
      clientKeyPem: own.keyPem,
    });
    t.teardown(() => zp2.close());
    zp2.connect();
    await until('peer refused ztunnel types', () => zp2.status);
    t.equal(zp2.status!.code, 7);
  },
);

t.test('invalid resources from a peer are NACKed item by item; valid ones and last good copies stay', async (t) => {
  const leaf = leafFrom(pki.dir, 'cluster-f', 'fake', [
    'URI:spiffe://cluster.local/ns/istio-system/sa/istiod',
    'IP:127.0.0.1',
  ]);
  const fake = await startFakePeer({
    ...leaf,
    trustBundlePem: fs.readFileSync(path.join(pki.dir, 'root-cert.pem'), 'utf8'),
  });
  t.teardown(() => fake.close());
  const good = (name: string, capacity: number): Record<string, unknown> => ({
    name,
    namespace: 'shop',
    hostname: `${name}.shop.mesh.internal`,
    ports: [{ port: 80, targetPort: 8080 }],
    capacity,
    scope: 'global',
  });
  fake.put(TYPE_CLUSTER_INFO, { cluster: { clusterId: 'cluster-f', network: 'net-f' } });
  fake.put(TYPE_FEDERATED_SERVICE, { 'shop/ok': good('ok', 4), 'shop/later-bad': good('later-bad', 2) });
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: { 'peer.yaml': remote({ cluster: 'cluster-f', network: 'net-f', port: fake.port }) },
  });
  t.teardown(() => a.close());
  const z = a.ztunnel();
  z.connect();
  const split = (s: string): string =>
    `net-f/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-f/shop/${s}.shop.mesh.internal`;
  await until('valid import', () => held(z, split('ok')) && held(z, split('later-bad')));
  // One response with two good and three bad resources.
  fake.put(TYPE_FEDERATED_SERVICE, {
    'shop/new-ok': good('new-ok', 8),
    'shop/later-bad': good('later-bad', 50), // not a bucket
    'shop/mismatch': good('other', 1), // name does not match
    'shop/BadName': { ...good('BadName', 1) },
    'shop/ok': good('ok', 16),
  });
  await until('NACK seen by the peer', () => fake.nacks.length > 0);
  const msg = fake.nacks[0]!.message;
  t.match(msg, /shop\/later-bad: capacity 50/);
  t.match(msg, /shop\/mismatch: resource name/);
  t.match(msg, /shop\/BadName: name/);
  t.notMatch(msg, /shop\/new-ok|shop\/ok:/, 'valid items are not in the NACK');
  await until(
    'valid items applied',
    () => held(z, split('new-ok')) && held(z, split('ok'))?.workload.capacity?.value === 16,
  );
  t.equal(held(z, split('later-bad'))!.workload.capacity.value, 2, 'last good copy kept for the rejected item');
  t.notOk(held(z, split('other')));
  t.equal(a.peer('cluster-f')!.nacks, 1);
  t.match(a.peer('cluster-f')!.lastNack!, /later-bad/);
  // A ClusterInfo claiming another cluster is rejected too.
  fake.put(TYPE_CLUSTER_INFO, { cluster: { clusterId: 'someone-else', network: 'net-f' } });
  await until('ClusterInfo NACK', () =>
    fake.nacks.some((n) => n.typeUrl === TYPE_CLUSTER_INFO && /declares "cluster-f"/.test(n.message)),
  );
});
