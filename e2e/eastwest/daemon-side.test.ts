import t from 'tap';
import { bytesToIp } from '../../pkg/model';
import { makePki, startCluster, held, until, remote, ns } from '../peering/harness';
import { CLUSTER, GLOBAL_HOST, NETWORK, hboneClient, readAll, startGatewayFixture, workloadCert } from './fixture';

/**
 * What a client ztunnel in a peer cluster needs to reach this gateway
 * (hbone-dataplane.md §2.1): the global service with the remote workloads'
 * SANs, a split-horizon endpoint whose network_gateway resolves to a Workload
 * with the gateway's IP in the gateway's network, whose identity is the SAN
 * the gateway's certificate carries. The test then walks the path as ztunnel
 * would: dial what network_gateway says, check that SAN, CONNECT the service
 * hostname and port, and reach B's pod.
 */
t.setTimeout(240_000);
const pki = makePki(['cluster-a', CLUSTER]);
t.teardown(() => pki.cleanup());

t.test('a peer\'s ztunnel state leads to this gateway, whose certificate matches', async (t) => {
  const b = await startGatewayFixture({ pki: pki.dir, identity: 'istio-gateways/istio-eastwest' });
  t.teardown(() => b.close());
  const a = await startCluster({
    name: 'cluster-a', network: 'net-a', pki: pki.dir,
    files: {
      'ns.yaml': ns('demo'),
      'peer-b.yaml': remote({ cluster: CLUSTER, network: NETWORK, port: b.daemon.daemon.grpcPort, hbone: b.hbonePort }),
    },
  });
  t.teardown(() => a.close());
  const za = a.ztunnel();
  za.connect();

  const svc = (await until('A sees the global service', () => held(za, `demo/${GLOBAL_HOST}`)))!.service;
  t.same(svc.subjectAltNames, ['spiffe://cluster.local/ns/demo/sa/echo'], 'inner-tunnel SANs: B\'s workloads');
  const split = await until('A sees B\'s split-horizon endpoint', () => [...za.held('type.googleapis.com/istio.workload.Address').values()]
    .map((h) => h.value as Record<string, any>).find((v) => v.workload?.networkGateway && v.workload.network === NETWORK));
  const gwAddr = split!.workload.networkGateway;
  t.equal(gwAddr.address.network, NETWORK);
  t.equal(gwAddr.hboneMtlsPort, b.hbonePort, 'HBONE port from the istio-remote Gateway');
  const gwIp = bytesToIp(gwAddr.address.address);
  // ztunnel's fetch_network_gateway: a Workload with that IP in that network.
  const gwWorkload = [...za.held('type.googleapis.com/istio.workload.Address').values()]
    .map((h) => h.value as Record<string, any>)
    .find((v) => v.workload && v.workload.network === NETWORK && (v.workload.addresses ?? []).some((x: Buffer) => bytesToIp(x) === gwIp))
    ?.workload;
  t.ok(gwWorkload, 'the gateway resolves to a Workload in its network');
  const expected = `spiffe://${gwWorkload.trustDomain || 'cluster.local'}/ns/${gwWorkload.namespace}/sa/${gwWorkload.serviceAccount}`;
  t.equal(expected, b.gatewaySpiffe, 'the SAN ztunnel expects is the gateway\'s identity');
  t.notOk(gwWorkload.services && Object.keys(gwWorkload.services).length, 'the gateway is no service endpoint');

  // The outer tunnel as A's ztunnel opens it: A's workload cert, the expected gateway SAN.
  const id = workloadCert(a, 'demo', 'client');
  const c = await hboneClient(gwAddr.hboneMtlsPort, id, expected);
  t.same(c.serverSans, [expected]);
  const port = svc.ports[0].servicePort;
  const { status, stream } = await c.connect(`${svc.hostname}:${port}`);
  t.equal(status, 200, 'CONNECT <global hostname>:<service port> accepted');
  stream.end('ping');
  t.equal((await readAll(stream)).toString(), 'ping', 'reached B\'s pod stand-in and back');
  t.equal(b.dests.reduce((n, d) => n + d.accepted, 0), 1, 'one TCP connection to a pod\'s :15008');
  c.close();

  // Unlinking the peer withdraws the gateway workload with the rest.
  a.remove('peer-b.yaml');
  await until('gateway workload withdrawn', () => ![...za.held('type.googleapis.com/istio.workload.Address').values()]
    .some((h) => (h.value as Record<string, any>).workload?.uid === gwWorkload.uid));
});
