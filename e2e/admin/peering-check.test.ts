import t from 'tap';
import * as net from 'node:net';
import * as path from 'node:path';
import { createAdmin } from '../../pkg/admin';
import { createPeeringWith } from '../../pkg/peering';
import { checkCommand } from '../../cmd/ambientd/check-cmd';
import { startDaemon } from '../harness/daemon-fixture';
import { eastWest, makePki, ns, peeringWire, pods, remote, service, until } from '../peering/harness';
import { Capture, adminOf, get } from './helpers';

// REAL peering layer (pkg/peering) between two real daemons sharing a root CA.
t.setTimeout(180_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

type Peers = {
  enabled: boolean;
  peers: {
    name: string;
    cluster: string;
    conditions: Record<string, { status: string; reason: string }>;
    resources: Record<string, number>;
  }[];
};

async function cluster(name: string, network: string, files: Record<string, string>) {
  return startDaemon({
    flags: { 'cluster-id': name, network, 'ca-dir': path.join(pki.dir, name) },
    files: { 'system.yaml': ns('istio-system'), ...files },
    deps: {
      wire: peeringWire(),
      peering: createPeeringWith({ backoff: { initialMs: 50, maxMs: 500 }, saveDelayMs: 20 }),
      admin: createAdmin,
    },
  });
}

async function check(port: number, staleSeconds?: number): Promise<{ code: number; text: string }> {
  const cap = new Capture();
  const code = await checkCommand({ debugUrl: `http://127.0.0.1:${port}`, output: 'text', staleSeconds }, cap.stream);
  return { code, text: cap.text };
}

t.test(
  '[real peering] check passes with a connected, synced peer and fails once a declared peer is unreachable',
  async (t) => {
    const a = await cluster('cluster-a', 'net-a', {
      'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
      'ew.yaml': eastWest({ network: 'net-a', cluster: 'cluster-a' }),
      'svc.yaml': service('web', 'shop'),
      'pods.yaml': pods('web', 'shop', 2, '10.1'),
    });
    t.teardown(() => a.close());
    const b = await cluster('cluster-b', 'net-b', {
      'peer-a.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.daemon.grpcPort }),
    });
    t.teardown(() => b.close());
    const port = adminOf(b.daemon).debugPort;
    const peersOf = async (): Promise<Peers> => (await get(port, '/debug/peers')).json<Peers>();

    const synced = await until(
      'B connected to and synced with A',
      async () => {
        const p = await peersOf();
        const pa = p.peers.find((x) => x.cluster === 'cluster-a');
        return pa && pa.conditions.Connected!.status === 'True' && pa.conditions.Synced!.status === 'True'
          ? pa
          : undefined;
      },
      60_000,
    );
    t.equal(synced!.name, 'istio-gateways/istio-remote-peer-cluster-a');
    t.equal(synced!.resources.services, 1, 'one global service imported');
    const ok = await check(port);
    t.equal(ok.code, 0, ok.text);
    t.match(ok.text, /^✓ peers connected and synced: 1 peer\(s\) Connected and Synced$/m);

    // On A (the serving side), B's importer stream names B and the SPIFFE id that authenticated it.
    type Conn = { kind: string; clusterId: string | null; identity: { spiffeId: string | null } | null };
    const conns = (await get(adminOf(a.daemon).debugPort, '/debug/connections')).json<{
      byKind: Record<string, number>;
      xds: Conn[];
      inboundPeers: Record<string, unknown>[];
    }>();
    const inbound = conns.xds.filter((c) => c.kind === 'peer');
    t.equal(inbound.length, 1, 'one inbound peer stream');
    t.equal(inbound[0]!.clusterId, 'cluster-b', 'named after the dialling cluster');
    t.equal(inbound[0]!.identity?.spiffeId, 'spiffe://cluster.local/ns/istio-system/sa/istiod');
    t.match(conns.inboundPeers, [
      { clusterId: 'cluster-b', spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/istiod' },
    ]);
    t.equal(conns.byKind.peer, 1);
    const scrape = (await get(adminOf(a.daemon).metricsPort, '/metrics')).body;
    t.match(
      scrape,
      new RegExp(
        /^ambientd_peer_inbound_streams\{cluster="cluster-b",/.source +
          /spiffe_id="spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod"\} 1$/.source,
        'm',
      ),
    );

    // A second peer declared at a closed loopback port: never connects.
    const closed = await closedPort();
    b.write('peer-c.yaml', remote({ cluster: 'cluster-c', network: 'net-c', port: closed, address: '127.0.0.3' }));
    await until(
      'cluster-c reported',
      async () =>
        (await peersOf()).peers.some((x) => x.cluster === 'cluster-c' && x.conditions.Connected!.status === 'False'),
      30_000,
    );
    const bad = await check(port);
    t.equal(bad.code, 1, bad.text);
    t.match(bad.text, /^✗ peers connected and synced: istio-gateways\/istio-remote-peer-cluster-c not Connected/m);
    t.match(bad.text, /^✓ no stale peer data/m, 'a peer that never synced holds no stale data');

    // A goes away: B keeps serving A's last-known data, which is now stale.
    await a.close();
    await until(
      'cluster-a disconnected and stale',
      async () => {
        const pa = (await peersOf()).peers.find((x) => x.cluster === 'cluster-a') as
          { stale?: boolean; conditions: Record<string, { status: string }> } | undefined;
        return pa?.stale === true && pa.conditions.Connected!.status === 'False';
      },
      30_000,
    );
    const stale = await check(port, 0);
    t.equal(stale.code, 1);
    t.match(stale.text, /^✗ no stale peer data: istio-gateways\/istio-remote-peer-cluster-a: last synced \d+s ago/m);
    t.match(stale.text, /istio-remote-peer-cluster-a not Connected/);
    const lenient = await check(port, 3600);
    t.match(lenient.text, /^✓ no stale peer data/m, 'within the threshold');
  },
);

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.3', r));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}
