import t from 'tap';
import { bytesToIp } from '../../pkg/model';
import type { ZtunnelClient } from '../harness/ztunnel-client';
import { makePki, startCluster, held, until, remote, ns, eastWest } from '../peering/harness';
import { CLUSTER, GLOBAL_HOST, NETWORK, hboneClient, readAll, startGatewayFixture, workloadCert } from './fixture';
import { runBase } from './loopback-slice';
import type { LooseJson } from '../harness/loose-json';

const ADDRESS = 'type.googleapis.com/istio.workload.Address';
const values = (z: ZtunnelClient): LooseJson[] => [...z.held(ADDRESS).values()].map((h) => h.value as LooseJson);
const idOf = (w: LooseJson): string =>
  `spiffe://${w.trustDomain || 'cluster.local'}/ns/${w.namespace}/sa/${w.serviceAccount}`;

/**
 * What a client ztunnel in a peer cluster needs to reach this gateway
 * (docs/design/hbone.md, Double HBONE through a gateway): the global service with the remote workloads'
 * SANs, a split-horizon endpoint whose network_gateway resolves to a Workload
 * with the gateway's IP in the gateway's network, whose identity is the SAN
 * the gateway's certificate carries. The test then walks the path as ztunnel
 * would: dial what network_gateway says, check that SAN, CONNECT the service
 * hostname and port, and reach B's pod.
 */
t.setTimeout(240_000);
const pki = makePki(['cluster-a', CLUSTER]);
t.teardown(() => pki.cleanup());

t.test("a peer's ztunnel state leads to this gateway, whose certificate matches", async (t) => {
  const b = await startGatewayFixture({ pki: pki.dir, identity: 'istio-gateways/istio-eastwest' });
  t.teardown(() => b.close());
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('demo'),
      'peer-b.yaml': remote({ cluster: CLUSTER, network: NETWORK, port: b.daemon.daemon.grpcPort, hbone: b.hbonePort }),
    },
  });
  t.teardown(() => a.close());
  const za = a.ztunnel();
  za.connect();

  const svc = (await until('A sees the global service', () => held(za, `demo/${GLOBAL_HOST}`)))!.service;
  t.same(svc.subjectAltNames, ['spiffe://cluster.local/ns/demo/sa/echo'], "inner-tunnel SANs: B's workloads");
  const split = await until("A sees B's split-horizon endpoint", () =>
    values(za).find((v) => v.workload?.networkGateway && v.workload.network === NETWORK),
  );
  const gwAddr = split!.workload.networkGateway;
  t.equal(gwAddr.address.network, NETWORK);
  t.equal(gwAddr.hboneMtlsPort, b.hbonePort, 'HBONE port from the istio-remote Gateway');
  const gwIp = bytesToIp(gwAddr.address.address);
  // ztunnel's fetch_network_gateway: a Workload with that IP in that network.
  const hasIp = (w: LooseJson): boolean => (w.addresses ?? []).some((x: Buffer) => bytesToIp(x) === gwIp);
  const gwWorkload = values(za).find(
    (v) => v.workload && v.workload.network === NETWORK && hasIp(v.workload),
  )?.workload;
  t.ok(gwWorkload, 'the gateway resolves to a Workload in its network');
  const expected = idOf(gwWorkload);
  t.equal(expected, b.gatewaySpiffe, "the SAN ztunnel expects is the gateway's identity");
  t.notOk(gwWorkload.services && Object.keys(gwWorkload.services).length, 'the gateway is no service endpoint');

  // The outer tunnel as A's ztunnel opens it: A's workload cert, the expected gateway SAN.
  const id = await workloadCert(a, 'demo', 'client');
  const c = await hboneClient(gwAddr.hboneMtlsPort, id, expected);
  t.same(c.serverSans, [expected]);
  const port = svc.ports[0].servicePort;
  const { status, stream } = await c.connect(`${svc.hostname}:${port}`);
  t.equal(status, 200, 'CONNECT <global hostname>:<service port> accepted');
  stream.end('ping');
  t.equal((await readAll(stream)).toString(), 'ping', "reached B's pod stand-in and back");
  t.equal(
    b.dests.reduce((n, d) => n + d.accepted, 0),
    1,
    "one TCP connection to a pod's :15008",
  );
  c.close();

  // Unlinking the peer withdraws the gateway workload with the rest.
  a.remove('peer-b.yaml');
  await until('gateway workload withdrawn', () => !values(za).some((v) => v.workload?.uid === gwWorkload.uid));
});

/** The Service istio renders for the east-west Gateway: its HBONE port's nodePort is what peers dial. */
const ewService = (nodePort: number): string => `apiVersion: v1
kind: Service
metadata:
  name: istio-eastwest
  namespace: istio-gateways
  labels: { gateway.networking.k8s.io/gateway-name: istio-eastwest }
spec:
  type: NodePort
  clusterIP: 10.96.0.99
  selector: { gateway.networking.k8s.io/gateway-name: istio-eastwest }
  ports:
  - { name: tls-hbone, port: 15008, nodePort: ${nodePort} }
`;

const nodeObj = (name: string, ip: string): string => `apiVersion: v1
kind: Node
metadata: { name: ${name} }
status:
  addresses: [{ type: InternalIP, address: ${ip} }]
  conditions: [{ type: Ready, status: "True" }]
`;

t.test('NodePort form: the same gateway through a node address and node port', async (t) => {
  const base = runBase();
  const nodeIp = `${base}.7.1`;
  const NODE_PORT = 31008;
  const b = await startGatewayFixture({
    pki: pki.dir,
    base,
    identity: 'istio-gateways/istio-eastwest',
    files: {
      'ew.yaml': eastWest({
        network: NETWORK,
        cluster: CLUSTER,
        annotations: { 'peering.solo.io/data-plane-service-type': 'nodeport' },
      }),
      'ew-svc.yaml': ewService(NODE_PORT),
      'nodes.yaml': nodeObj('node-1', nodeIp),
    },
    // The gateway also listens where kube-proxy would deliver <node-ip>:<nodePort>.
    flags: { listen: `127.0.0.1:0,${nodeIp}:${NODE_PORT}` },
  });
  t.teardown(() => b.close());
  t.same(b.gateway.ports!.hbone.slice(1), [NODE_PORT]);
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('demo'),
      'peer-b.yaml': remote({
        cluster: CLUSTER,
        network: NETWORK,
        port: b.daemon.daemon.grpcPort,
        annotations: { 'peering.solo.io/preferred-data-plane-service-type': 'nodeport' },
      }),
    },
  });
  t.teardown(() => a.close());
  const za = a.ztunnel();
  za.connect();
  const all = (): LooseJson[] => values(za);
  const split = await until('split-horizon endpoint via the node gateway', () =>
    all().find((v) => v.workload?.networkGateway?.hostname && v.workload.network === NETWORK),
  );
  const gwHost = split!.workload.networkGateway.hostname;
  // ztunnel's hostname form: a Service with that hostname, its endpoints' port mapping for hbone_mtls_port.
  const svc = await until('node gateway service', () => held(za, `${gwHost.namespace}/${gwHost.hostname}`));
  t.ok(svc, 'node gateway service');
  const key = `${gwHost.namespace}/${gwHost.hostname}`;
  const nodeW = await until('node workload', () => all().find((v) => v.workload?.services?.[key]));
  const w = nodeW!.workload;
  const ip = bytesToIp(w.addresses[0]);
  const port = w.services[`${gwHost.namespace}/${gwHost.hostname}`].ports.find(
    (p: { servicePort: number }) => p.servicePort === split!.workload.networkGateway.hboneMtlsPort,
  ).targetPort;
  t.same([ip, port], [nodeIp, NODE_PORT], 'ztunnel dials <node-ip>:<nodePort>');
  const expected = idOf(w);
  t.equal(expected, b.gatewaySpiffe, 'the node workload carries the gateway identity');

  const c = await hboneClient(port, await workloadCert(a, 'demo', 'client'), expected, ip);
  t.teardown(() => c.close());
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  stream.end('via node port');
  t.equal((await readAll(stream)).toString(), 'via node port');
});
