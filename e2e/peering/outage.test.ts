import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { peerFile } from '../../pkg/peering';
import { makePki, startCluster, ns, service, pods, remote, held, until } from './harness';

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

const SPLIT = (svc: string): string =>
  `net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/${svc}.shop.mesh.internal`;
const A_FILES = {
  'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
  'svc.yaml': [service('web', 'shop'), service('cart', 'shop', { clusterIP: '10.96.0.11' })].join('---\n'),
  'pods.yaml': [pods('web', 'shop', 2, '10.1'), pods('cart', 'shop', 1, '10.2')].join('---\n'),
};

function dirs(): { root: string; registry: string; state: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-outage-'));
  const registry = path.join(root, 'registry');
  fs.mkdirSync(registry, { recursive: true });
  return { root, registry, state: path.join(root, 'state') };
}

t.test(
  'disconnect keeps last-known data; ' +
    'reconnect applies changes made during the outage; an unchanged reconnect resends nothing',
  async (t) => {
    const ad = dirs();
    t.teardown(() => fs.rmSync(ad.root, { recursive: true, force: true }));
    let a = await startCluster({
      name: 'cluster-a',
      network: 'net-a',
      pki: pki.dir,
      files: A_FILES,
      registryDir: ad.registry,
      stateDir: ad.state,
    });
    const aPort = a.port;
    const b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      files: { 'ns.yaml': ns('shop'), 'peer.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: aPort }) },
    });
    t.teardown(() => b.close());
    const zb = b.ztunnel();
    zb.connect();
    await until('B imported web and cart', () => held(zb, SPLIT('web')) && held(zb, SPLIT('cart')));
    await until('synced', () => b.cond('cluster-a', 'Synced') === 'True');

    // A network blip with an unchanged peer: re-declare a dead port, then the right one again.
    const before = b.peer('cluster-a')!.received!;
    b.write('peer.yaml', remote({ cluster: 'cluster-a', network: 'net-a', port: 1 }));
    await until('B disconnected', () => b.cond('cluster-a', 'Connected') === 'False');
    t.equal(b.peer('cluster-a')!.stale, true, 'stale while disconnected');
    t.equal(b.cond('cluster-a', 'Synced'), 'False');
    t.ok(held(zb, SPLIT('web')), 'last-known data kept');
    b.write('peer.yaml', remote({ cluster: 'cluster-a', network: 'net-a', port: aPort }));
    await until('B resynced', () => b.cond('cluster-a', 'Synced') === 'True');
    t.equal(b.peer('cluster-a')!.received, before, 'initial_resource_versions: nothing resent by an unchanged peer');
    t.ok(
      (await b.daemon.metrics.metrics()).match(
        /ambientd_peer_terminations_total\{peer="cluster-a",reason="[a-z_]+"\} [1-9]/,
      ),
      'termination reason counted',
    );

    // Outage: A goes away; changes are made in A meanwhile.
    await a.close();
    await until('B sees the outage', () => b.cond('cluster-a', 'Connected') === 'False');
    t.equal(b.peer('cluster-a')!.stale, true);
    t.ok(held(zb, SPLIT('web')) && held(zb, SPLIT('cart')), 'ztunnels keep last-known state during the outage');
    fs.writeFileSync(
      path.join(ad.registry, 'svc.yaml'),
      [service('web', 'shop'), service('orders', 'shop', { clusterIP: '10.96.0.13' })].join('---\n'),
    );
    fs.writeFileSync(
      path.join(ad.registry, 'pods.yaml'),
      [pods('web', 'shop', 2, '10.1', { sa: 'web-v2' }), pods('orders', 'shop', 1, '10.4')].join('---\n'),
    );
    a = await startCluster({
      name: 'cluster-a',
      network: 'net-a',
      pki: pki.dir,
      registryDir: ad.registry,
      stateDir: ad.state,
      flags: { 'xds-listen': `127.0.0.1:${aPort}` },
    });
    t.teardown(() => a.close());
    await until('changes from the outage applied', () => held(zb, SPLIT('orders')) && !held(zb, SPLIT('cart')));
    const g = await until('SANs updated', () => {
      const s = held(zb, 'shop/web.shop.mesh.internal')?.service;
      return s?.subjectAltNames?.[0]?.endsWith('/sa/web-v2') ? s : undefined;
    });
    t.same(g.subjectAltNames, ['spiffe://cluster.local/ns/shop/sa/web-v2']);
    t.notOk(held(zb, 'shop/cart.shop.mesh.internal'), 'removed service pruned after the resync');
    await until('synced again', () => b.cond('cluster-a', 'Synced') === 'True' && b.peer('cluster-a')!.stale === false);
  },
);

t.test(
  'restart while the peer is down: state restored before serving; corrupt state reported, never a crash',
  async (t) => {
    const ad = dirs();
    const bd = dirs();
    t.teardown(() => {
      fs.rmSync(ad.root, { recursive: true, force: true });
      fs.rmSync(bd.root, { recursive: true, force: true });
    });
    const a = await startCluster({
      name: 'cluster-a',
      network: 'net-a',
      pki: pki.dir,
      files: A_FILES,
      registryDir: ad.registry,
      stateDir: ad.state,
    });
    const bFiles = {
      'ns.yaml': ns('shop'),
      'peer.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.port }),
    };
    let b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      files: bFiles,
      registryDir: bd.registry,
      stateDir: bd.state,
    });
    let zb = b.ztunnel();
    zb.connect();
    await until('B imported', () => held(zb, SPLIT('web')) && held(zb, SPLIT('cart')));
    await until('persisted', () => fs.existsSync(peerFile(bd.state, 'cluster-a')));
    const seen = new Map(
      [...zb.held('type.googleapis.com/istio.workload.Address')]
        .filter(([n]) => n.includes('mesh.internal'))
        .map(([n, h]) => [n, h.version]),
    );
    await b.close();
    await a.close(); // the peer is down for B's restart

    b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      registryDir: bd.registry,
      stateDir: bd.state,
    });
    t.teardown(() => b.close());
    t.equal(b.daemon.readiness().ready, true, 'ready: persisted peer state restored');
    zb = b.ztunnel();
    zb.connect();
    await until('first responses', () => zb.received.length >= 2);
    const after = new Map(
      [...zb.held('type.googleapis.com/istio.workload.Address')]
        .filter(([n]) => n.includes('mesh.internal'))
        .map(([n, h]) => [n, h.version]),
    );
    t.same(
      [...after].sort(),
      [...seen].sort(),
      'a ztunnel sees exactly the same imported resources (same versions) after the restart',
    );
    t.equal(b.cond('cluster-a', 'Connected'), 'False');
    t.equal(b.peer('cluster-a')!.stale, true);
    await b.close();

    // Corrupt file: reported and ignored.
    fs.writeFileSync(
      peerFile(bd.state, 'cluster-a'),
      '{"format":1,"cluster":"cluster-a",' +
        '"types":{"type.googleapis.com/ambientd.peering.v1.FederatedService":{' +
        '"x/y":["v","!!!notbase64 but decodes to junk"]}}}',
    );
    fs.writeFileSync(path.join(bd.state, 'peers', 'garbage.json'), '{not json');
    const b2 = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      registryDir: bd.registry,
      stateDir: bd.state,
    });
    t.teardown(() => b2.close());
    t.equal(b2.peering.restoreProblems.length, 2, 'both bad files reported');
    t.equal(b2.daemon.readiness().ready, true);
    t.equal(b2.peer('cluster-a')!.services, 0, 'nothing imported from a corrupt file');
  },
);
