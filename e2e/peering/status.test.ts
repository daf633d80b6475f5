import t from 'tap';
import * as net from 'node:net';
import { get } from '../admin/helpers';
import { adminOf } from '../admin/helpers';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { makePki, startCluster, ns, service, pods, eastWest, remote, held, until, type Cluster } from './harness';

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

const SPLIT = 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal';

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const condOf = (c: Cluster, cluster: string, type: string) => c.peer(cluster)?.conditions.find((x) => x.type === type);

async function exporter(): Promise<Cluster> {
  return startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
      'ew.yaml': eastWest({ network: 'net-a', cluster: 'cluster-a' }),
      'svc.yaml': service('web', 'shop'),
      'pods.yaml': pods('web', 'shop', 3, '10.1'),
    },
  });
}

type PeerDoc = {
  name: string;
  conditions: Record<string, { status: string; reason: string; lastTransitionTime: string | null }>;
};

t.test(
  'DataPlaneProgrammed is True only once the peer synced and local ztunnels ACKed; transitions are stamped',
  async (t) => {
    const a = await exporter();
    t.teardown(() => a.close());
    const dead = await closedPort();
    const b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pki.dir,
      admin: true,
      files: {
        'ns.yaml': ns('shop'),
        'peer-a.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.port }),
        'peer-x.yaml': remote({ cluster: 'cluster-x', network: 'net-x', port: dead }),
      },
    });
    t.teardown(() => b.close());

    await until('B synced with A', () => condOf(b, 'cluster-a', 'Synced')?.status === 'True');
    t.match(
      condOf(b, 'cluster-a', 'DataPlaneProgrammed'),
      { status: 'Unknown', reason: 'NoZtunnels' },
      'synced, but no ztunnel holds it',
    );

    // A ztunnel that receives but does not ACK yet.
    const z = b.ztunnel({ autoAck: false });
    z.connect();
    await until("ztunnel received A's endpoint", () => held(z, SPLIT));
    t.match(
      condOf(b, 'cluster-a', 'DataPlaneProgrammed'),
      { status: 'False', reason: 'Pending' },
      'not ACKed: not programmed',
    );

    const ackedAt = Date.now();
    for (const type of [TYPE_ADDRESS, TYPE_AUTHORIZATION]) {
      const last = [...z.received].reverse().find((r) => r.typeUrl === type);
      if (last) z.ack(type, last.nonce);
    }
    await until('programmed after the ACK', () => condOf(b, 'cluster-a', 'DataPlaneProgrammed')?.status === 'True');
    const dp = condOf(b, 'cluster-a', 'DataPlaneProgrammed')!;
    t.equal(dp.reason, 'Programmed');
    const at = (s?: string) => Date.parse(s ?? '');
    t.ok(at(dp.lastTransitionTime) >= ackedAt, 'DataPlaneProgrammed turned True after the ACK, not before');
    const connected = condOf(b, 'cluster-a', 'Connected')!;
    const synced = condOf(b, 'cluster-a', 'Synced')!;
    t.ok(at(connected.lastTransitionTime) <= at(synced.lastTransitionTime), 'Connected before Synced');
    t.ok(at(synced.lastTransitionTime) < ackedAt, 'Synced stamped when it synced, not when read');

    // /debug/peers carries every condition's lastTransitionTime; the unreachable peer overclaims nothing.
    const port = adminOf(b.daemon).debugPort;
    const doc = (await get(port, '/debug/peers')).json<{ peers: PeerDoc[] }>();
    const x = doc.peers.find((p) => p.name === 'istio-gateways/istio-remote-peer-cluster-x')!;
    t.ok(x, 'unreachable peer listed');
    t.equal(x.conditions.Connected!.status, 'False');
    t.not(x.conditions.Synced!.status, 'True');
    t.match(x.conditions.DataPlaneProgrammed, { status: 'False', reason: 'NotSynced' });
    for (const p of doc.peers) {
      for (const [type, c] of Object.entries(p.conditions))
        t.ok(c.lastTransitionTime && at(c.lastTransitionTime) > 0, `${p.name} ${type}: lastTransitionTime`);
    }
    const aDoc = doc.peers.find((p) => p.name === 'istio-gateways/istio-remote-peer-cluster-a')!;
    t.equal(aDoc.conditions.DataPlaneProgrammed!.lastTransitionTime, dp.lastTransitionTime, 'same stamp on every read');

    // Pointed at an address where nothing answers, the link is new and nothing is programmed through it.
    b.write('peer-a.yaml', remote({ cluster: 'cluster-a', network: 'net-a', port: dead }));
    await until(
      're-declared peer not programmed',
      () => condOf(b, 'cluster-a', 'DataPlaneProgrammed')?.status === 'False',
    );
    t.match(condOf(b, 'cluster-a', 'DataPlaneProgrammed'), { reason: 'NotSynced' });
  },
);

const count = (text: string, metric: string): number =>
  Number(new RegExp(`^${metric}_count(?:\\{\\})? (\\d+)`, 'm').exec(text)?.[1] ?? 0);

t.test('propagation counts live changes only; a resync records its data age in its own metric', async (t) => {
  const a = await exporter();
  t.teardown(() => a.close());
  const b = await startCluster({
    name: 'cluster-b',
    network: 'net-b',
    pki: pki.dir,
    files: { 'ns.yaml': ns('shop'), 'peer-a.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.port }) },
  });
  t.teardown(() => b.close());
  const z = b.ztunnel();
  z.connect();
  const metrics = () => b.daemon.metrics.metrics();
  await until('programmed', () => condOf(b, 'cluster-a', 'DataPlaneProgrammed')?.status === 'True');
  let m = await metrics();
  t.equal(count(m, 'ambientd_mesh_propagation_seconds'), 0, 'the initial sync is not a propagation');
  t.equal(count(m, 'ambientd_peer_resync_age_seconds'), 1, 'one resync recorded');

  // A live change (3 -> 4 ready pods: bucket 2 -> 4) is a propagation.
  a.write('pods.yaml', pods('web', 'shop', 4, '10.1'));
  await until('capacity 4 at B', () => held(z, SPLIT)?.workload.capacity?.value === 4);
  await until('propagation sampled', async () => count(await metrics(), 'ambientd_mesh_propagation_seconds') === 1);

  // Unlink, change A meanwhile, relink: the caught-up data is a resync, not a propagation.
  b.remove('peer-a.yaml');
  await until('unlinked', () => b.peer('cluster-a') === undefined);
  a.write('pods.yaml', pods('web', 'shop', 8, '10.1'));
  b.write('peer-a.yaml', remote({ cluster: 'cluster-a', network: 'net-a', port: a.port }));
  await until('capacity 8 at B after relink', () => held(z, SPLIT)?.workload.capacity?.value === 8);
  await until('relink programmed', () => condOf(b, 'cluster-a', 'DataPlaneProgrammed')?.status === 'True');
  await until('second resync recorded', async () => count(await metrics(), 'ambientd_peer_resync_age_seconds') === 2);
  m = await metrics();
  t.equal(count(m, 'ambientd_mesh_propagation_seconds'), 1, 'still one propagation sample');
});
