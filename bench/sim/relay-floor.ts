/**
 * The relay floors of the east-west gateway (bench/scenarios/dataplane.ts, bench/scenarios/relay-floor.ts): the
 * least a Node process can do per byte in the gateway's place, with no ambientd code on the data path.
 *  - h2:  node:http2 TLS server with the gateway's TLS and HTTP/2 settings (pkg/eastwest/server-options.ts,
 *         hbone-dataplane.md §1.5: TLS 1.3 AES-GCM, ALPN h2, client certificate required, 4 MiB stream and
 *         16 MiB connection windows, 1 MiB frames); every CONNECT stream gets a plain TCP connection to the
 *         next destination of the list (round robin), 200 after the connect, then stream.pipe(socket) and
 *         socket.pipe(stream). No authority check, no routing, no metrics.
 *  - tls: the same TLS termination without HTTP/2: each TLS connection is piped to a TCP connection.
 *
 * argv: one JSON object {mode, listen: "ip:port", cert, key, ca (PEM file paths), destinations: ["ip:port"]}.
 * stdout: one JSON line {ev: "ready", port} once listening. Exits on SIGTERM.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';

interface Config {
  mode: 'h2' | 'tls';
  listen: string;
  cert: string;
  key: string;
  ca: string;
  destinations: string[];
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
const split = (hp: string): { host: string; port: number } => {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};
let next = 0;
const dial = (): net.Socket => {
  const d = split(cfg.destinations[next++ % cfg.destinations.length]!);
  return net.connect({ host: d.host, port: d.port, noDelay: true, allowHalfOpen: true });
};

const tlsOpts: tls.TlsOptions = {
  cert: fs.readFileSync(cfg.cert), key: fs.readFileSync(cfg.key), ca: fs.readFileSync(cfg.ca),
  minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256',
  ecdhCurve: 'X25519:P-256:P-384', requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'],
};

function h2Server(): net.Server {
  const server = http2.createSecureServer({
    ...tlsOpts, allowHTTP1: false, maxSessionMemory: 48,
    settings: {
      maxConcurrentStreams: 100, initialWindowSize: 4 << 20, maxFrameSize: 1 << 20, maxHeaderListSize: 64 << 10,
      enablePush: false,
    },
  });
  server.on('connection', (s: net.Socket) => s.setNoDelay(true));
  server.on('session', (session) => {
    session.on('error', () => undefined);
    try {
      session.setLocalWindowSize(16 << 20);
    } catch {
      /* closing */
    }
  });
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    const socket = dial();
    socket.on('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
    stream.on('close', () => socket.destroySoon());
    socket.once('connect', () => {
      stream.respond({ ':status': 200 });
      stream.pipe(socket);
      socket.pipe(stream);
    });
  });
  server.on('sessionError', () => undefined);
  return server;
}

function tlsServer(): net.Server {
  const server = tls.createServer({ ...tlsOpts, ALPNProtocols: undefined, allowHalfOpen: true });
  server.on('secureConnection', (t) => {
    t.setNoDelay(true);
    const socket = dial();
    t.on('error', () => socket.destroy());
    socket.on('error', () => t.destroy());
    t.pipe(socket);
    socket.pipe(t);
  });
  server.on('tlsClientError', () => undefined);
  return server;
}

const server = cfg.mode === 'tls' ? tlsServer() : h2Server();
const at = split(cfg.listen);
server.listen(at.port, at.host, () => {
  process.stdout.write(`${JSON.stringify({ ev: 'ready', port: (server.address() as net.AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
