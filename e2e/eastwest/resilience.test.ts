import t from 'tap';
import * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import { waitFor } from '../../pkg/lifecycle';
import { pods, startCluster } from '../peering/harness';
import { CLUSTER, GLOBAL_HOST, NETWORK, hboneClient, readAll, startGatewayFixture } from './fixture';

/** The gateway's own lifecycle: certificate renewal, and the loss of its control plane. */
t.setTimeout(120_000);

const serial = (s: http2.ClientHttp2Session): string => (s.socket as tls.TLSSocket).getPeerCertificate().serialNumber;

t.test('the certificate is renewed before expiry; new handshakes get the new one, open tunnels stay', async (t) => {
  const f = await startGatewayFixture({ flags: { 'cert-ttl': '4s' } });
  t.teardown(() => f.close());
  const first = await f.metric('ambientd_eastwest_cert_expiry_timestamp_seconds');
  const c1 = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c1.close());
  const { status, stream } = await c1.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  await waitFor(async () => (await f.metric('ambientd_eastwest_cert_expiry_timestamp_seconds')) > first, {
    timeoutMs: 10_000,
    what: 'a renewed certificate',
  });
  const c2 = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c2.close());
  t.not(serial(c2.session), serial(c1.session), 'a new handshake presents the renewed certificate');
  t.same(c2.serverSans, [f.gatewaySpiffe], 'same identity');
  stream.end('after renewal');
  t.equal((await readAll(stream)).toString(), 'after renewal', 'the tunnel opened before renewal still relays');
});

t.test('the daemon goes away: routes are kept, tunnels and new CONNECTs still work', async (t) => {
  const f = await startGatewayFixture();
  t.teardown(() => f.close());
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c.close());
  const open = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(open.status, 200);
  t.equal(await f.metric('ambientd_eastwest_xds_connected'), 1);
  await f.daemon.daemon.close();
  await waitFor(async () => (await f.metric('ambientd_eastwest_xds_connected')) === 0, { what: 'xDS stream lost' });
  const again = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(again.status, 200, 'a failure is never a deletion: the last routes still resolve');
  again.stream.end('x');
  t.equal((await readAll(again.stream)).toString(), 'x');
  open.stream.end('y');
  t.equal((await readAll(open.stream)).toString(), 'y', 'the tunnel opened before still relays');
  t.equal(f.gateway.readiness().ready, true, 'still ready: it holds a certificate and routes');

  // The daemon comes back (same state, same port): the gateway reconnects and follows changes again.
  const port = f.daemon.daemon.grpcPort;
  const back = await startCluster({
    name: CLUSTER,
    network: NETWORK,
    stateDir: f.daemon.stateDir,
    registryDir: f.daemon.registryDir,
    flags: { 'xds-listen': `127.0.0.1:${port}` },
  });
  t.teardown(() => back.close());
  await waitFor(async () => (await f.metric('ambientd_eastwest_xds_connected')) === 1, {
    timeoutMs: 20_000,
    what: 'xDS stream re-established',
  });
  back.write('more.yaml', pods('echo', 'demo', 3, f.base, { prefix: 'more' }));
  await waitFor(() => (f.gateway.routes().get(GLOBAL_HOST)?.endpoints.length ?? 0) === 5, {
    what: 'a change after the reconnect reaches the routes',
  });
  t.pass('routes follow the daemon again');
});
