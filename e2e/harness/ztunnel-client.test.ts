import t from 'tap';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { startDaemon } from './daemon-fixture';
import { Relay } from './relay';

// The chaos test relies on this: a stream whose connection went silent ends (UNAVAILABLE)
// through the HTTP/2 PING, as ztunnel's does, instead of waiting forever for a response.
t.test('the simulated ztunnel ends a stream whose connection went silent, through its keepalive', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.close());
  // A relay that later goes silent: open sockets, nothing read or forwarded, no FIN or RST.
  const hop = new Relay(() => d.daemon.grpcPort);
  await hop.start();
  t.teardown(() => hop.close());
  const z = d.ztunnel({ address: `127.0.0.1:${hop.port}`, keepaliveMs: 200, keepaliveTimeoutMs: 500 });
  z.connect();
  await z.until(() => [TYPE_ADDRESS, TYPE_AUTHORIZATION].every((ty) => z.acked.get(ty)), 'initial responses ACKed');
  // Healthy: pings go out and are answered, and the stream carries on.
  await z.until(() => z.sockets().some((k) => k.keepalivesSent > 0), 'a keepalive PING sent on a healthy connection');
  t.equal(z.status, undefined, 'a healthy connection is not dropped by its keepalive');
  hop.silence();
  const s = await z.until(() => z.status, 'the stream ends after the connection went silent');
  t.equal(s?.code, 14, `UNAVAILABLE (${s?.details})`);
});
