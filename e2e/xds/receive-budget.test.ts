import t from 'tap';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GrpcServer, type BidiCall } from '../../pkg/transport';
import { createSilentLogger } from '../../pkg/log';
import { waitFor } from '../../pkg/lifecycle';
import { grpcRequestHeaders, rawMethod, testServerCredentials } from '../harness/grpc-server-fixture';

/**
 * The server-wide receive budget on the real transport: a large message that
 * does not fit is not read (its stream is paused, so HTTP/2 flow control holds
 * the client) until an earlier one completes; every message still arrives
 * intact, in order, and the budget drains back to zero — also when a call
 * that holds or waits for room goes away.
 */

const PATH = '/test.Svc/Sink';
const MSG = 600_000;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function framed(msg: Buffer): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

async function setup(t: { teardown(fn: () => unknown): void }, limits?: { receiveHoldTimeoutMs: number }) {
  const { pki, credentials: creds } = testServerCredentials(t);
  // Room for one 600 kB message at a time (the cap never drops below one maximal message).
  const refusals: string[] = [];
  const server = new GrpcServer({
    listen: '127.0.0.1:0',
    logger: createSilentLogger(),
    maxReceiveBytes: 1 << 20,
    maxSessionMemoryMb: 16,
    credentials: creds,
    maxBufferedReceiveBytes: 1,
    limits,
    refused: (r) => refusals.push(r),
  });
  const received: { call: number; msg: Buffer }[] = [];
  let calls = 0;
  const definition: grpc.ServiceDefinition = { Sink: rawMethod(PATH) };
  const implementation = {
    Sink: (call: BidiCall) => {
      const id = ++calls;
      call.on('data', (m: Buffer) => received.push({ call: id, msg: Buffer.from(m) }));
      call.on('end', () => call.finish(grpc.status.OK, 'OK'));
    },
  } as unknown as grpc.UntypedServiceImplementation;
  server.addService({ definition, implementation });
  const port = await server.start();
  t.teardown(() => server.destroy());
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.rootCertPem, servername: 'localhost' });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const open = (): http2.ClientHttp2Stream => {
    const s = session.request(grpcRequestHeaders(PATH));
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    return s;
  };
  return { server, received, open, calls: () => calls, refusals };
}

t.test('a large message waits for room while another is being received, then both arrive intact', async (t) => {
  const { server, received, open, calls } = await setup(t);
  const a = pattern(MSG, 1);
  const b = pattern(MSG, 2);
  const fa = framed(a);
  const fb = framed(b);
  const sa = open();
  sa.write(fa.subarray(0, 300_000)); // past the threshold: A reserves its whole declared length and stays incomplete
  await waitFor(() => server.receiveBudget().inUse > 0, { timeoutMs: 5000 });
  t.equal(server.receiveBudget().inUse, 5 + MSG, 'A holds room for its whole message');
  const sb = open();
  sb.write(fb); // B's first chunk shows a length that does not fit: B is paused
  await waitFor(() => calls() === 2 && server.receiveBudget().queued === 1, { timeoutMs: 5000 });
  t.equal(received.length, 0, 'nothing complete yet');
  t.ok(server.receiveBudget().inUse <= server.receiveBudget().total, 'never over the cap');
  sa.write(fa.subarray(300_000)); // A completes → its room goes to B
  await waitFor(() => received.length === 2, { timeoutMs: 10_000 });
  t.same(
    received.map((r) => r.call),
    [1, 2],
    'A first, then B',
  );
  t.ok(received[0]!.msg.equals(a), 'A byte for byte');
  t.ok(received[1]!.msg.equals(b), 'B byte for byte');
  await waitFor(() => server.receiveBudget().inUse === 0 && server.receiveBudget().queued === 0, { timeoutMs: 5000 });
  t.pass('budget drained');
  sa.end();
  sb.end();
});

t.test('a call that closes while holding or waiting for room gives it back', async (t) => {
  const { server, received, open, calls } = await setup(t);
  const fa = framed(pattern(MSG, 3));
  const fb = framed(pattern(MSG, 4));
  const fc = framed(pattern(MSG, 5));
  const sa = open();
  sa.write(fa.subarray(0, 300_000));
  await waitFor(() => server.receiveBudget().inUse > 0, { timeoutMs: 5000 });
  const sb = open();
  sb.write(fb.subarray(0, 300_000));
  await waitFor(() => calls() === 2 && server.receiveBudget().queued === 1, { timeoutMs: 5000 });
  sb.close(http2.constants.NGHTTP2_CANCEL); // the waiter leaves the queue
  await waitFor(() => server.receiveBudget().queued === 0, { timeoutMs: 5000 });
  sa.close(http2.constants.NGHTTP2_CANCEL); // the holder gives its room back
  await waitFor(() => server.receiveBudget().inUse === 0, { timeoutMs: 5000 });
  const sc = open();
  sc.write(fc);
  await waitFor(() => received.length === 1, { timeoutMs: 10_000 });
  t.ok(received[0]!.msg.equals(fc.subarray(5)), 'a later call gets the whole budget');
  await waitFor(() => server.receiveBudget().inUse === 0, { timeoutMs: 5000 });
  t.pass('drained');
  sc.end();
});

t.test('a reservation is earned by bytes arriving and expires when they stop', async (t) => {
  const { server, received, open, refusals } = await setup(t, { receiveHoldTimeoutMs: 500 });
  const fa = framed(pattern(MSG, 6));
  const fb = framed(pattern(MSG, 7));
  const sa = open();
  // Declares 600 kB and sends 1 kB: below the threshold nothing is reserved.
  sa.write(fa.subarray(0, 1024));
  const sb = open();
  sb.write(fb);
  await waitFor(() => received.length === 1, { timeoutMs: 10_000, what: 'B received while A sent 1 kB' });
  t.ok(received[0]!.msg.equals(fb.subarray(5)), 'B was not held back by A');
  await waitFor(() => server.receiveBudget().inUse === 0, { timeoutMs: 5000 });
  // A sends past the threshold (it earns its reservation), then stalls: the hold deadline ends it.
  let status = '';
  sa.on('trailers', (h) => (status = String(h['grpc-status'])));
  sa.on('response', (h) => (status ||= String(h['grpc-status'] ?? '')));
  sa.write(fa.subarray(1024, 300_000));
  await waitFor(() => server.receiveBudget().inUse > 0, { timeoutMs: 5000, what: 'A holds a reservation' });
  const expired = (): boolean => refusals.includes('receive_stalled') && server.receiveBudget().inUse === 0;
  await waitFor(expired, { timeoutMs: 10_000, what: 'A expired' });
  await waitFor(() => sa.closed, { timeoutMs: 5000, what: 'A reset' });
  t.equal(status, '4', 'A ended DEADLINE_EXCEEDED');
});
