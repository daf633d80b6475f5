/**
 * The relay floors of the east-west gateway (bench/scenarios/dataplane.ts, bench/scenarios/relay-floor.ts): the
 * least a Node process can do per byte in the gateway's place, with no ambientd code on the data path.
 *  - h2:  node:http2 TLS server with the gateway's TLS and HTTP/2 settings (pkg/eastwest/server-options.ts,
 *         docs/design/hbone.md: TLS 1.3 AES-GCM, ALPN h2, client certificate required, 4 MiB stream and
 *         16 MiB connection windows, 1 MiB frames); every CONNECT stream gets a plain TCP connection to the
 *         next destination of the list (round robin), 200 after the connect, then stream.pipe(socket) and
 *         socket.pipe(stream). No authority check, no routing, no metrics.
 *  - tls: the same TLS termination without HTTP/2: each TLS connection is piped to a TCP connection.
 *  - tls-batched: tls, with the writes toward the destination batched per event-loop pass as the gateway's
 *         Tunnel does (the first chunk of a pass written at once, the rest corked until setImmediate).
 *  - gateway: the h2 server with the gateway's own relay (pkg/eastwest Tunnel, its destination socket options)
 *         instead of pipe(); no authentication, routing or metrics (per-connection work, not per-byte).
 *
 * argv: one JSON object {mode, listen: "ip:port", cert, key, ca (PEM file paths), destinations: ["ip:port"]}.
 * stdout: one JSON line {ev: "ready", port} once listening. Exits on SIGTERM.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type * as stream from 'node:stream';
import * as tls from 'node:tls';
import { Tunnel } from '../../pkg/eastwest';
import type { RelayConfig } from '../lib/relay-floor';

const cfg = JSON.parse(process.argv[2] ?? '{}') as RelayConfig;
const split = (hp: string): { host: string; port: number } => {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};
let next = 0;
const dial = (): net.Socket => {
  const d = split(cfg.destinations[next++ % cfg.destinations.length]!);
  // 256 KiB: the gateway's DESTINATION_WRITE_BUFFER (pkg/eastwest/listener.ts); stream.Duplex reads the option.
  const o: net.TcpNetConnectOpts & { writableHighWaterMark: number } = {
    host: d.host,
    port: d.port,
    noDelay: true,
    allowHalfOpen: true,
    writableHighWaterMark: 256 * 1024,
  };
  return net.connect(o);
};

/** src → dst with dst's writes corked after the first one of an event-loop pass (pkg/eastwest/tunnel.ts). */
function batchedPipe(src: stream.Readable, dst: net.Socket): void {
  let inPass = false;
  let corked = false;
  src.on('data', (c: Buffer) => {
    if (!inPass) {
      inPass = true;
      setImmediate(() => {
        inPass = false;
        if (corked) {
          corked = false;
          dst.uncork();
        }
      });
    } else if (!corked) {
      corked = true;
      dst.cork();
    }
    if (!dst.write(c)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.once('end', () => dst.end());
}

const tlsOpts: tls.TlsOptions = {
  cert: fs.readFileSync(cfg.cert),
  key: fs.readFileSync(cfg.key),
  ca: fs.readFileSync(cfg.ca),
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256',
  ecdhCurve: 'X25519:P-256:P-384',
  requestCert: true,
  rejectUnauthorized: true,
  ALPNProtocols: ['h2'],
};

function h2Server(): net.Server {
  const server = http2.createSecureServer({
    ...tlsOpts,
    allowHTTP1: false,
    maxSessionMemory: 48,
    settings: {
      maxConcurrentStreams: 100,
      initialWindowSize: 4 << 20,
      maxFrameSize: 1 << 20,
      maxHeaderListSize: 64 << 10,
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
      if (cfg.mode === 'gateway') {
        new Tunnel(stream, socket, {
          id: next,
          caller: '',
          authority: '',
          endpoint: '',
          openedAt: 0,
          idleTimeoutMs: 3_600_000,
          onEnd: () => 0,
        });
        return;
      }
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
    if (cfg.mode === 'tls-batched') batchedPipe(t, socket);
    else t.pipe(socket);
    socket.pipe(t);
  });
  server.on('tlsClientError', () => undefined);
  return server;
}

const server = cfg.mode.startsWith('tls') ? tlsServer() : h2Server();
const at = split(cfg.listen);
server.listen(at.port, at.host, () => {
  process.stdout.write(`${JSON.stringify({ ev: 'ready', port: (server.address() as net.AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
