/**
 * The memory floor for the mesh RSS figure: what N peer links cost in a Node
 * process that holds them and nothing else. Each link is what the daemon's peer
 * client holds per peer — one TLS 1.3 connection presenting a client
 * certificate (one SecureContext shared by all, as pkg/peering does), one
 * HTTP/2 session, one open gRPC-style stream — and has received one response
 * of the size of a virtual peer's first sync, from a bare node:http2 server in
 * another process. No ambientd code runs on either side.
 *
 * Run with --expose-gc: the figure is RSS after a full GC, minus the same
 * before the first link, divided by N (native TLS/HTTP/2 state, socket buffers,
 * and the JS objects of the links).
 *
 * argv: <key> <cert> <links> <responseBytes>   (role "server" is forked internally)
 * IPC: → {ev:'ready'} then, after {cmd:'run'}, {ev:'floor', perLinkKiB, heapPerLinkKiB, totalMiB}.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { TLS13_CIPHERS } from '../../pkg/transport';
import { sampleProc } from '../lib/proc';

const [keyFile, certFile, linksArg, bytesArg, role] = process.argv.slice(2);

function serve(): void {
  const server = http2.createSecureServer({
    key: fs.readFileSync(keyFile!),
    cert: fs.readFileSync(certFile!),
    minVersion: 'TLSv1.3',
    ciphers: TLS13_CIPHERS,
    allowHTTP1: false,
  });
  const size = Number(bytesArg);
  const msg = Buffer.alloc(5 + size, 0x61);
  msg[0] = 0;
  msg.writeUInt32BE(size, 1);
  server.on('stream', (st) => {
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    st.write(msg);
    st.on('data', () => undefined);
    st.on('error', () => undefined);
  });
  server.on('sessionError', () => undefined);
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('disconnect', () => process.exit(0));
}

const rss = (): number => sampleProc(process.pid).rssBytes;

async function measure(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('link-floor needs --expose-gc');
  const links = Number(linksArg);
  const size = Number(bytesArg);
  const srv = fork(__filename, [keyFile!, certFile!, linksArg!, bytesArg!, 'server'], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => srv.once('message', (m: { port: number }) => resolve(m.port)));
  const cert = fs.readFileSync(certFile!);
  const ctx = tls.createSecureContext({
    ca: cert,
    cert,
    key: fs.readFileSync(keyFile!),
    minVersion: 'TLSv1.3',
    ciphers: TLS13_CIPHERS,
  });
  const request = Buffer.from([0, 0, 0, 0, 2, 0x12, 0]);
  const held: unknown[] = [];
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${port}`, {
        createConnection: () =>
          tls.connect({
            host: '127.0.0.1',
            port,
            secureContext: ctx,
            servername: 'istiod.istio-system.svc',
            ALPNProtocols: ['h2'],
          }),
      });
      session.on('error', reject);
      const st = session.request(
        {
          ':method': 'POST',
          ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
          'content-type': 'application/grpc',
          te: 'trailers',
        },
        { endStream: false },
      );
      st.write(request);
      let got = 0;
      st.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= 5 + size) resolve();
      });
      st.on('error', reject);
      held.push(session, st);
    });
  process.send!({ ev: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  gc();
  const r0 = rss();
  const h0 = process.memoryUsage().heapUsed;
  // 64 at a time, like the daemon's dial admission.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < links) {
      next++;
      await open();
    }
  };
  await Promise.all(Array.from({ length: Math.min(64, links) }, worker));
  gc();
  gc();
  const r1 = rss();
  const h1 = process.memoryUsage().heapUsed;
  process.send!({
    ev: 'floor',
    perLinkKiB: (r1 - r0) / links / 1024,
    heapPerLinkKiB: (h1 - h0) / links / 1024,
    totalMiB: (r1 - r0) / 2 ** 20,
    baseMiB: r0 / 2 ** 20,
    links: held.length / 2,
  });
  srv.kill();
  process.exit(0);
}

if (role === 'server') serve();
else void measure();
