import t from 'tap';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { GRPC_PREFIX_BYTES, GrpcServer, type BidiCall, type UnaryCall } from '../../pkg/transport';
import { createSilentLogger } from '../../pkg/log';
import { waitFor } from '../../pkg/lifecycle';
import { createTestPki } from '../harness/pki';
import { rawMethod, testServerCredentials } from '../harness/grpc-server-fixture';

/**
 * The node:http2 gRPC server against grpc-js's client (an independent
 * implementation of the same protocol): unary and bidi calls, status and
 * trailers, receive limit, unknown methods, client-certificate exposure, and
 * serving-certificate rotation without dropping streams.
 */

const raw = (b: Buffer): Buffer => b;
const UNARY = '/test.Svc/Echo';
const BIDI = '/test.Svc/Chat';

interface Seen {
  metadata?: Record<string, unknown>;
  peer?: string;
  cert?: tls.DetailedPeerCertificate;
}

async function setup(
  t: { teardown(fn: () => unknown): void },
  maxReceiveBytes = 1024,
  keepalive?: { keepaliveTimeMs: number; keepaliveTimeoutMs: number },
) {
  const { pki, credentials: creds } = testServerCredentials(t);
  const server = new GrpcServer({
    listen: '127.0.0.1:0',
    logger: createSilentLogger(),
    maxReceiveBytes,
    maxSessionMemoryMb: 16,
    credentials: creds,
    ...keepalive,
  });
  const seen: Seen = {};
  const definition: grpc.ServiceDefinition = { Echo: rawMethod(UNARY, false), Chat: rawMethod(BIDI) };
  const implementation = {
    Echo: (call: UnaryCall, cb: (e: { code: number; details: string } | null, v?: Buffer) => void) => {
      seen.metadata = call.metadata.getMap();
      seen.peer = call.getPeer();
      seen.cert = call.getAuthContext().sslPeerCertificate;
      const req = call.request as Buffer;
      if (req.toString() === 'fail') {
        cb({ code: grpc.status.PERMISSION_DENIED, details: 'nein – not you' });
        return;
      }
      cb(null, Buffer.concat([Buffer.from('echo:'), req]));
    },
    Chat: (call: BidiCall) => {
      call.on('data', (m: Buffer) => {
        if (m.toString() === 'framed') {
          // A chunked message, then two built behind the prefix room (queued behind it), then a plain one.
          call.write(Array.from({ length: 5000 }, (_, i) => Buffer.alloc(500, i & 0xff)));
          for (const text of ['framed-1', 'framed-2'])
            call.writeFramed(Buffer.concat([Buffer.alloc(GRPC_PREFIX_BYTES, 0xee), Buffer.from(text)]));
          call.write(Buffer.from('after'));
          return;
        }
        if (m.toString() === 'parts') {
          // A message as many parts (chunked on the way out), then a small one right behind it.
          const parts = Array.from({ length: 5000 }, (_, i) => Buffer.alloc(500, i & 0xff));
          call.write(parts);
          call.write(Buffer.from('after'));
          return;
        }
        if (m.toString() === 'bye') call.finish(grpc.status.OK, 'OK');
        else if (m.toString() === 'err') call.finish(grpc.status.INVALID_ARGUMENT, 'bad ünïcode %');
        else call.write(Buffer.concat([Buffer.from('re:'), m]));
      });
      call.on('end', () => call.finish(grpc.status.OK, 'OK'));
    },
  } as unknown as grpc.UntypedServiceImplementation;
  server.addService({ definition, implementation });
  const port = await server.start();
  t.teardown(() => server.destroy());
  const client = (opts: { key?: string; cert?: string } = {}): grpc.Client => {
    const c = new grpc.Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        Buffer.from(pki.rootCertPem),
        opts.key ? Buffer.from(opts.key) : null,
        opts.cert ? Buffer.from(opts.cert) : null,
      ),
      { 'grpc.ssl_target_name_override': 'localhost' },
    );
    t.teardown(() => c.close());
    return c;
  };
  return { pki, creds, server, port, seen, client };
}

function unary(
  c: grpc.Client,
  path: string,
  body: Buffer,
  md = new grpc.Metadata(),
): Promise<{ err: grpc.ServiceError | null; value?: Buffer }> {
  return new Promise((resolve) =>
    c.makeUnaryRequest(path, raw, raw, body, md, (err, value) => resolve({ err, value })),
  );
}

t.test(
  'unary: response, metadata and peer reach the handler; an error status carries its (non-ASCII) message',
  async (t) => {
    const { client, seen } = await setup(t);
    const c = client();
    const md = new grpc.Metadata();
    md.set('x-test', 'v1');
    const ok = await unary(c, UNARY, Buffer.from('hi'), md);
    t.equal(ok.err, null);
    t.equal(ok.value?.toString(), 'echo:hi');
    t.same(seen.metadata?.['x-test'], 'v1');
    t.notOk(seen.metadata?.['content-type'], 'transport headers are not metadata');
    t.match(seen.peer, /^127\.0\.0\.1:\d+$/);
    t.equal(seen.cert, undefined, 'no client certificate, none exposed');
    const bad = await unary(c, UNARY, Buffer.from('fail'));
    t.equal(bad.err?.code, grpc.status.PERMISSION_DENIED);
    t.equal(bad.err?.details, 'nein – not you');
  },
);

t.test(
  'unknown method → UNIMPLEMENTED; over the receive limit → RESOURCE_EXHAUSTED and the server keeps serving',
  async (t) => {
    const { client } = await setup(t, 1024);
    const c = client();
    const unknown = await unary(c, '/test.Svc/Nope', Buffer.from('x'));
    t.equal(unknown.err?.code, grpc.status.UNIMPLEMENTED);
    const big = await unary(c, UNARY, Buffer.alloc(4096, 1));
    t.equal(big.err?.code, grpc.status.RESOURCE_EXHAUSTED);
    const after = await unary(c, UNARY, Buffer.from('still'));
    t.equal(after.value?.toString(), 'echo:still');
  },
);

t.test('bidi: messages both ways, a status with a percent-encoded message, clean end on half-close', async (t) => {
  const { client } = await setup(t);
  const c = client();
  const call = c.makeBidiStreamRequest(BIDI, raw, raw);
  const got: string[] = [];
  let status: grpc.StatusObject | undefined;
  call.on('data', (m: Buffer) => got.push(m.toString()));
  call.on('status', (s: grpc.StatusObject) => (status = s));
  call.on('error', () => undefined);
  call.write(Buffer.from('a'));
  call.write(Buffer.from('b'));
  await waitFor(() => got.length === 2, { timeoutMs: 5000 });
  t.same(got, ['re:a', 're:b']);
  call.write(Buffer.from('err'));
  await waitFor(() => status !== undefined, { timeoutMs: 5000 });
  t.equal(status!.code, grpc.status.INVALID_ARGUMENT);
  t.equal(status!.details, 'bad ünïcode %');

  const call2 = c.makeBidiStreamRequest(BIDI, raw, raw);
  let status2: grpc.StatusObject | undefined;
  call2.on('status', (s: grpc.StatusObject) => (status2 = s));
  call2.on('data', () => undefined);
  call2.end();
  await waitFor(() => status2 !== undefined, { timeoutMs: 5000 });
  t.equal(status2!.code, grpc.status.OK);
});

t.test(
  'a client certificate is exposed (with its issuer chain) only when it verifies against the trust bundle',
  async (t) => {
    const { pki, client, seen } = await setup(t);
    const good = pki.leaf('peer', ['URI:spiffe://cluster.local/ns/a/sa/b']);
    await unary(client({ key: good.keyPem, cert: good.certPem }), UNARY, Buffer.from('x'));
    t.ok(seen.cert?.raw, 'verified certificate exposed');
    t.ok(seen.cert?.issuerCertificate?.raw, 'with its issuer');
    t.match(seen.cert?.subjectaltname, /spiffe:\/\/cluster\.local\/ns\/a\/sa\/b/);

    const other = createTestPki({ prefix: 'other' });
    t.teardown(() => other.cleanup());
    const foreign = other.leaf('foreign', ['URI:spiffe://evil/ns/a/sa/b']);
    const r = await unary(client({ key: foreign.keyPem, cert: foreign.certPem }), UNARY, Buffer.from('y'));
    t.equal(r.value?.toString(), 'echo:y', 'the call is still served (the authenticator decides)');
    t.equal(seen.cert, undefined, 'an unverified certificate is never exposed');
  },
);

t.test('rotating the serving certificate keeps open streams and serves new handshakes with the new one', async (t) => {
  const { pki, creds, port, client } = await setup(t);
  const c = client();
  const call = c.makeBidiStreamRequest(BIDI, raw, raw);
  const got: string[] = [];
  call.on('data', (m: Buffer) => got.push(m.toString()));
  call.on('error', () => undefined);
  call.write(Buffer.from('before'));
  await waitFor(() => got.length === 1, { timeoutMs: 5000 });

  const serial = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tls.connect(
        { host: '127.0.0.1', port, ca: pki.rootCertPem, servername: 'localhost', ALPNProtocols: ['h2'] },
        () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.destroy();
        },
      );
      s.on('error', reject);
    });
  const s1 = await serial();
  const next = pki.leaf('server2', ['DNS:localhost', 'IP:127.0.0.1']);
  creds.update({ certChainPem: next.certPem, keyPem: next.keyPem, trustBundlePem: pki.rootCertPem });
  const s2 = await serial();
  t.not(s2, s1, 'new handshakes get the new certificate');

  call.write(Buffer.from('after'));
  await waitFor(() => got.length === 2, { timeoutMs: 5000 });
  t.same(got, ['re:before', 're:after'], 'the stream opened before the rotation still works');
  call.end();
});

t.test('garbage bytes on the port close that connection; the server keeps serving', async (t) => {
  const { port, client } = await setup(t);
  const net = await import('node:net');
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff\x13garbage')));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  const r = await unary(client(), UNARY, Buffer.from('ok'));
  t.equal(r.value?.toString(), 'echo:ok');
});

t.test('a large request (many HTTP/2 DATA frames) and back-to-back small ones arrive intact', async (t) => {
  const { client } = await setup(t, 4 << 20);
  const c = client();
  const big = Buffer.alloc(700_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const r = await unary(c, UNARY, big);
  t.equal(r.err, null);
  t.ok(r.value?.subarray(5).equals(big), 'echoed byte for byte');
  const call = c.makeBidiStreamRequest(BIDI, raw, raw);
  const got: string[] = [];
  call.on('data', (m: Buffer) => got.push(m.toString()));
  call.on('error', () => undefined);
  for (let i = 0; i < 50; i++) call.write(Buffer.from(`m${i}`));
  await waitFor(() => got.length === 50, { timeoutMs: 5000 });
  t.same(
    got,
    Array.from({ length: 50 }, (_, i) => `re:m${i}`),
  );
  call.end();
});

t.test(
  'keepalive: a peer that never answers PINGs is dropped; peers that answer keep their calls; the server keeps serving',
  async (t) => {
    const { pki, port, client } = await setup(t, 1024, { keepaliveTimeMs: 30, keepaliveTimeoutMs: 100 });
    // A raw HTTP/2 peer: client preface + empty SETTINGS, then it reads and ignores everything (no PING ACK).
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      ca: pki.rootCertPem,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
    });
    t.teardown(() => sock.destroy());
    let closed = false;
    let bytes = 0;
    sock.on('secureConnect', () =>
      sock.write(
        Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]),
      ),
    );
    sock.on('data', (d: Buffer) => (bytes += d.length));
    sock.on('error', () => undefined);
    sock.on('close', () => (closed = true));
    await waitFor(() => closed, { timeoutMs: 5000, what: 'silent peer dropped' });
    t.ok(bytes > 0, 'the server spoke HTTP/2 to it (SETTINGS, PING) before dropping it');
    // A well-behaved client (grpc-js answers PINGs) keeps working with 30 ms keepalive on.
    const c = client();
    const call = c.makeBidiStreamRequest(BIDI, raw, raw);
    const got: string[] = [];
    call.on('data', (m: Buffer) => got.push(m.toString()));
    call.on('error', () => undefined);
    for (let i = 0; i < 5; i++) {
      call.write(Buffer.from(`k${i}`));
      await waitFor(() => got.length === i + 1, { timeoutMs: 5000 });
    }
    t.equal(got.length, 5);
    call.end();
    const r = await unary(c, UNARY, Buffer.from('alive'));
    t.equal(r.value?.toString(), 'echo:alive');
  },
);

/** A bidi call (4 MiB receive limit) that sends `command` and waits for `n` messages back. */
async function chat(
  t: { teardown(fn: () => unknown): void },
  command: string,
  n: number,
): Promise<{ call: grpc.ClientDuplexStream<Buffer, Buffer>; got: Buffer[] }> {
  const { client } = await setup(t, 4 << 20);
  const call = client().makeBidiStreamRequest(BIDI, raw, raw);
  const got: Buffer[] = [];
  call.on('data', (m: Buffer) => got.push(m));
  call.on('error', () => undefined);
  call.write(Buffer.from(command));
  await waitFor(() => got.length === n, { timeoutMs: 10_000 });
  return { call, got };
}

t.test(
  'a message given as many parts arrives whole and in order, and a write issued behind it does not interleave',
  async (t) => {
    const { call, got } = await chat(t, 'parts', 2);
    const expected = Buffer.concat(Array.from({ length: 5000 }, (_, i) => Buffer.alloc(500, i & 0xff)));
    t.equal(got[0]!.length, expected.length, '2.5 MB: more than one chunk');
    t.ok(got[0]!.equals(expected), 'byte for byte');
    t.equal(got[1]!.toString(), 'after');
    call.end();
  },
);

t.test(
  'messages written behind prefix room arrive whole, in order, also when queued behind a chunked one',
  async (t) => {
    const { call, got } = await chat(t, 'framed', 4);
    t.equal(got[0]!.length, 5000 * 500, 'the chunked message first');
    t.same(
      got.slice(1).map((b) => b.toString()),
      ['framed-1', 'framed-2', 'after'],
      'prefix room filled in place (grpc-js parsed the lengths), order kept',
    );
    call.end();
  },
);

t.test('chunked writes on concurrent streams reuse pooled chunks and still arrive byte for byte', async (t) => {
  const { client, server } = await setup(t, 4 << 20);
  const c = client();
  const expected = Buffer.concat(Array.from({ length: 5000 }, (_, i) => Buffer.alloc(500, i & 0xff)));
  const round = async (): Promise<void> => {
    const calls = [0, 1, 2].map(() => {
      const call = c.makeBidiStreamRequest(BIDI, raw, raw);
      const got: Buffer[] = [];
      call.on('data', (m: Buffer) => got.push(m));
      call.on('error', () => undefined);
      call.write(Buffer.from('parts'));
      return { call, got };
    });
    await waitFor(() => calls.every((x) => x.got.length === 2), { timeoutMs: 15_000 });
    for (const { call, got } of calls) {
      t.ok(got[0]!.equals(expected), 'byte for byte, though the same chunk memory was refilled many times');
      t.equal(got[1]!.toString(), 'after');
      call.end();
    }
  };
  await round();
  await round();
  const p = server.chunkPool();
  const chunksPerMessage = Math.ceil(expected.length / p.size);
  t.ok(chunksPerMessage > 4, `each message needs ${chunksPerMessage} chunks`);
  // 6 messages x ~10 chunks were written; at most one chunk per concurrent stream was ever allocated.
  t.ok(
    p.allocated >= 1 && p.allocated <= 3,
    `chunks allocated: ${p.allocated} (no more than the 3 concurrent streams)`,
  );
  t.equal(p.free, p.allocated, 'every chunk is back in the pool once the writes are done');
});
