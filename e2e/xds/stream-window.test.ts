import t from 'tap';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_HTTP2_WINDOW, GrpcServer, type BidiCall } from '../../pkg/transport';
import { createSilentLogger } from '../../pkg/log';
import { waitFor } from '../../pkg/lifecycle';
import { grpcRequestHeaders, rawMethod, testServerCredentials } from '../harness/grpc-server-fixture';

/**
 * The HTTP/2 receive window grows only once a stream of the connection
 * presented valid credentials and holds receive budget for a large message
 * (TransportLimits.authenticatedWindowBytes): an authenticated client then puts
 * 900 kB of a request in flight while the server reads nothing — no
 * WINDOW_UPDATE round trip per 64 KiB. An unauthenticated one, and an
 * authenticated one whose call waits for budget, keep HTTP/2's 65,535 bytes.
 * The handler here plays the xDS server's part: it calls `authenticated()` on a
 * good token, else ends the call UNAUTHENTICATED.
 */

const PATH = '/test.Svc/Sink';
const WINDOW = 1536 * 1024;
const MSG = 1_200_000;
/** Past the budget's threshold (64 KiB): a message this far in reserves its whole length. */
const EARNED = 100_000;

function framed(len: number): Buffer {
  const f = Buffer.alloc(5 + len, 9);
  f[0] = 0;
  f.writeUInt32BE(len, 1);
  return f;
}

async function setup(t: { teardown(fn: () => unknown): void }, o: { budget?: number } = {}) {
  const { pki, credentials } = testServerCredentials(t);
  const server = new GrpcServer({
    listen: '127.0.0.1:0',
    logger: createSilentLogger(),
    maxReceiveBytes: o.budget ? MSG : 4 << 20,
    maxBufferedReceiveBytes: o.budget,
    maxSessionMemoryMb: 16,
    credentials,
    limits: { authenticatedWindowBytes: WINDOW },
  });
  const calls: BidiCall[] = [];
  const received: number[] = [];
  const definition: grpc.ServiceDefinition = { Sink: rawMethod(PATH) };
  const implementation = {
    Sink: (call: BidiCall) => {
      if (call.metadata.get('authorization')[0] !== 'Bearer good')
        return void call.finish(grpc.status.UNAUTHENTICATED, 'authentication failure');
      calls.push(call);
      call.authenticated();
      call.on('data', (m: Buffer) => received.push(m.length));
    },
  } as unknown as grpc.UntypedServiceImplementation;
  server.addService({ definition, implementation });
  const port = await server.start();
  t.teardown(() => server.destroy());
  const connect = (): http2.ClientHttp2Session => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.rootCertPem, servername: 'localhost' });
    s.on('error', () => undefined);
    t.teardown(() => s.destroy());
    return s;
  };
  const open = (session: http2.ClientHttp2Session, token: string): http2.ClientHttp2Stream => {
    const s = session.request(grpcRequestHeaders(PATH, { authorization: `Bearer ${token}` }));
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    return s;
  };
  /** A PING round trip: every frame the server sent before its PING ACK has been processed by the client. */
  const roundTrip = (session: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
  return { server, calls, received, connect, open, roundTrip };
}

t.test(
  'an authenticated call granted budget gets the larger window: 900 kB cross while the server reads nothing',
  async (t) => {
    const { server, calls, received, connect, open, roundTrip } = await setup(t);
    const session = connect();
    const s = open(session, 'good');
    const msg = framed(MSG);
    s.write(msg.subarray(0, 1000));
    await waitFor(() => calls.length === 1, { timeoutMs: 5000, what: 'call authenticated' });
    await roundTrip(session);
    t.equal(session.remoteSettings.initialWindowSize, DEFAULT_HTTP2_WINDOW, 'credentials alone widen nothing');
    s.write(msg.subarray(1000, EARNED));
    // Past the threshold the message reserves its whole length, and the authenticated call's connection widens.
    await waitFor(() => server.receiveBudget().inUse === msg.length, { timeoutMs: 10_000, what: 'reserved' });
    calls[0]!.pauseReading(); // from here the server reads nothing: whatever crosses must fit the window
    await waitFor(() => session.remoteSettings.initialWindowSize === WINDOW, {
      timeoutMs: 5000,
      what: 'SETTINGS_INITIAL_WINDOW_SIZE raised',
    });
    await roundTrip(session); // the connection-level WINDOW_UPDATE was sent before the PING ACK
    t.ok(session.state.remoteWindowSize! >= WINDOW - EARNED, `connection window ${session.state.remoteWindowSize}`);
    let flushed = false;
    s.write(msg.subarray(EARNED, EARNED + 900_000), () => (flushed = true));
    // The write completes only once every byte went out, which within a stream window of 65,535 bytes would take
    // ~14 WINDOW_UPDATEs — and the server reads nothing (paused), so it sends none.
    await waitFor(() => flushed, { timeoutMs: 10_000, what: '900 kB written with the server not reading' });
    t.equal(received.length, 0, 'the server has read nothing of it yet');
    calls[0]!.resumeReading();
    s.write(msg.subarray(EARNED + 900_000));
    await waitFor(() => received.length === 1, { timeoutMs: 10_000, what: 'message delivered' });
    t.equal(received[0], MSG, 'the whole message arrived');
    await waitFor(() => server.receiveBudget().inUse === 0, { timeoutMs: 5000, what: 'reservation returned' });
    s.close();
  },
);

t.test('an authenticated call waiting for budget keeps the default window until it is granted', async (t) => {
  // Room for one message at a time: B waits while A is being received.
  const { server, received, connect, open, roundTrip } = await setup(t, { budget: MSG + 5 });
  const a = connect();
  const b = connect();
  const sa = open(a, 'good');
  const sb = open(b, 'good');
  const fa = framed(MSG);
  const fb = framed(MSG);
  sa.write(fa.subarray(0, EARNED));
  await waitFor(() => a.remoteSettings.initialWindowSize === WINDOW, { timeoutMs: 5000, what: 'A widened' });
  sb.write(fb.subarray(0, EARNED));
  await waitFor(() => server.receiveBudget().queued === 1, { timeoutMs: 5000, what: 'B waits for room' });
  await roundTrip(b);
  t.equal(b.remoteSettings.initialWindowSize, DEFAULT_HTTP2_WINDOW, 'B, waiting, keeps the 65,535 stream window');
  t.ok(b.state.remoteWindowSize! <= DEFAULT_HTTP2_WINDOW, 'nor is its connection window raised');
  sa.write(fa.subarray(EARNED)); // A completes: its room goes to B, and B widens
  await waitFor(() => b.remoteSettings.initialWindowSize === WINDOW, { timeoutMs: 5000, what: 'B widened' });
  sb.write(fb.subarray(EARNED));
  await waitFor(() => received.length === 2, { timeoutMs: 10_000, what: 'both delivered' });
  t.same(received, [MSG, MSG], 'both messages whole');
  sa.close();
  sb.close();
});

t.test('an unauthenticated connection keeps the HTTP/2 default window', async (t) => {
  const { calls, connect, open, roundTrip } = await setup(t);
  const session = connect();
  const s = open(session, 'bad');
  let status = '';
  s.on('response', (h) => (status = String(h['grpc-status'] ?? '')));
  s.write(framed(1000));
  await waitFor(() => status !== '', { timeoutMs: 5000, what: 'refused' });
  t.equal(status, String(grpc.status.UNAUTHENTICATED), 'refused');
  await roundTrip(session); // any SETTINGS the server sent before the PING ACK has been applied
  t.equal(session.remoteSettings.initialWindowSize, DEFAULT_HTTP2_WINDOW, 'stream window stays 65,535');
  t.ok(session.state.remoteWindowSize! <= DEFAULT_HTTP2_WINDOW, 'connection window not raised');
  t.equal(calls.length, 0, 'no call was authenticated');
});

t.test('widening is per connection: a second, unauthenticated connection stays at the default', async (t) => {
  const { connect, open, roundTrip } = await setup(t);
  const good = connect();
  open(good, 'good').write(framed(MSG).subarray(0, EARNED));
  await waitFor(() => good.remoteSettings.initialWindowSize === WINDOW, { timeoutMs: 5000, what: 'raised' });
  const other = connect();
  const s = open(other, 'bad');
  await new Promise((resolve) => s.on('close', resolve));
  await roundTrip(other);
  t.equal(other.remoteSettings.initialWindowSize, DEFAULT_HTTP2_WINDOW, 'the other connection is not widened');
});
