import t from 'tap';
import * as http2 from 'node:http2';
import { waitFor } from '../../pkg/lifecycle';
import { GLOBAL_HOST, hboneClient, startGatewayFixture, type HboneClient } from './fixture';

/** The tunnel bounds: an idle tunnel is closed, and tunnels beyond the limit are refused. */
t.setTimeout(120_000);

t.test('a tunnel without bytes either way is closed at the idle timeout; an active one is not', async (t) => {
  const f = await startGatewayFixture({ flags: { 'limits-idle-timeout': '600ms' } });
  t.teardown(() => f.close());
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c.close());
  const idle = await c.connect(`${GLOBAL_HOST}:80`);
  const busy = await c.connect(`${GLOBAL_HOST}:80`);
  t.same([idle.status, busy.status], [200, 200]);
  // The busy tunnel echoes a byte whenever the previous one came back; the idle one stays silent.
  let echoes = 0;
  busy.stream.on('data', () => {
    echoes++;
    if (!idle.stream.closed) busy.stream.write('.');
  });
  busy.stream.write('.');
  await waitFor(() => idle.stream.closed, { timeoutMs: 10_000, what: 'idle tunnel closed' });
  t.equal(idle.stream.rstCode, http2.constants.NGHTTP2_CANCEL, 'RST_STREAM(CANCEL) to the caller');
  t.ok(echoes > 0 && !busy.stream.closed, 'the tunnel carrying bytes stays open');
  t.equal(f.gateway.tunnelCount, 1);
  t.equal(c.session.closed, false, 'the connection stays up');
});

t.test('tunnels beyond limits.maxTunnels are refused with 503, the rest keep working', async (t) => {
  const f = await startGatewayFixture({ flags: { 'limits-max-tunnels': '100' } });
  t.teardown(() => f.close());
  const id = await f.workloadCert('demo', 'client');
  const clients: HboneClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const opened = [];
  for (let i = 0; i < 2; i++) {
    const c = await hboneClient(f.hbonePort, id, f.gatewaySpiffe);
    clients.push(c);
    opened.push(...(await Promise.all(Array.from({ length: 50 }, () => c.connect(`${GLOBAL_HOST}:80`)))));
  }
  t.ok(
    opened.every((o) => o.status === 200),
    '100 tunnels open',
  );
  const extra = await clients[0]!.connect(`${GLOBAL_HOST}:80`);
  t.equal(extra.status, 503, 'the 101st is refused');
  t.equal(await f.metric('ambientd_eastwest_refusals_total', { reason: 'max_tunnels' }), 1);
  opened[0]!.stream.close();
  await waitFor(() => f.gateway.tunnelCount === 99, { what: 'one tunnel released' });
  t.equal((await clients[1]!.connect(`${GLOBAL_HOST}:80`)).status, 200, 'a slot freed is served again');
});
