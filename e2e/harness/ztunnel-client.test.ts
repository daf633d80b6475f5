import t from 'tap';
import * as net from 'node:net';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { startDaemon } from './daemon-fixture';

/**
 * A TCP hop in front of the daemon that can turn into a black hole: both
 * sockets stay open but nothing is read or forwarded any more, and no FIN or
 * RST is ever sent — a connection that died without its close reaching us.
 */
async function blackHoleHop(targetPort: number): Promise<{ port: number; swallow: () => void; close: () => Promise<void> }> {
  const pairs: [net.Socket, net.Socket][] = [];
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    pairs.push([inbound, outbound]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    swallow: () => {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    close: async () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// The chaos test relies on this: a stream whose connection went silent ends (UNAVAILABLE)
// through the HTTP/2 PING, as ztunnel's does, instead of waiting forever for a response.
t.test('the simulated ztunnel ends a stream whose connection went silent, through its keepalive', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.close());
  const hop = await blackHoleHop(d.daemon.grpcPort);
  t.teardown(() => hop.close());
  const z = d.ztunnel({ address: `127.0.0.1:${hop.port}`, keepaliveMs: 200, keepaliveTimeoutMs: 500 });
  z.connect();
  await z.until(() => [TYPE_ADDRESS, TYPE_AUTHORIZATION].every((ty) => z.acked.get(ty)), 'initial responses ACKed');
  // Healthy: pings go out and are answered, and the stream carries on.
  await z.until(() => /keepalives [1-9]/.test(z.diagnose()), 'a keepalive PING sent on a healthy connection');
  t.equal(z.status, undefined, 'a healthy connection is not dropped by its keepalive');
  hop.swallow();
  const s = await z.until(() => z.status, 'the stream ends after the connection went silent');
  t.equal(s?.code, 14, `UNAVAILABLE (${s?.details})`);
});
