import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { ConnectionAdmissionHook } from '../admission';
import type { Logger } from '../log';
import { BidiCall } from './calls';
import { UnaryCall } from './unary-call';
import type { RotatingServerCredentials } from './credentials';
import { ReceiveBudget } from './receive-budget';
import { ChunkPool } from './chunk-pool';
import { ReceivePool } from './receive-pool';
import { DEFAULT_TRANSPORT_LIMITS, type RefusalSink, type TransportLimits } from './limits';
import { SessionGuard } from './session-guard';
import { refuseAtAccept } from './accept-filter';

/**
 * A receive pool that served no take for this long is emptied. While messages are leased it keeps up to the
 * receive budget (64 MiB by default) of idle buffers, and one buffer per size class once none is leased: worth
 * keeping while a storm continues (a 200-client storm sends a request every few ms), not at idle.
 */
const RECEIVE_POOL_TRIM_MS = 1_000;

export interface GrpcServerOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  credentials: RotatingServerCredentials;
  logger: Logger;
  /** Receive limit per message; istiod's ISTIO_GPRC_MAXRECVMSGSIZE defaults to 4 MiB. */
  maxReceiveBytes: number;
  /**
   * HTTP/2 session memory cap in MB. Node's default (10 MB) counts queued
   * output, and a full WDS push at 50k workloads is ~12.5 MB.
   */
  maxSessionMemoryMb: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /**
   * Cap on bytes of large request messages being received at once across all
   * calls (default 64 MiB; never below one maximal message). See ReceiveBudget.
   */
  maxBufferedReceiveBytes?: number;
  /** Graceful close waits this long for open calls, then drops the connections. Default 5 s. */
  closeTimeoutMs?: number;
  /** Deadlines and caps for what a caller can hold (defaults: DEFAULT_TRANSPORT_LIMITS). */
  limits?: Partial<TransportLimits>;
  /** Told about every connection or stream closed by a limit (the daemon counts them in /metrics). */
  refused?: RefusalSink;
  /** Connection cap at accept (pkg/admission: descriptor headroom); absent = none. */
  admission?: ConnectionAdmissionHook;
}

/**
 * grpc-js logs to stderr on its own (e.g. "No address added out of total 1
 * resolved" next to our one-line start-up error). Route it into our logger at
 * debug level instead; the process owner calls this once. (Clients — peering —
 * still use grpc-js.)
 */
export function routeGrpcLogs(logger: Logger): void {
  const log = (...args: unknown[]): void => logger.debug({ component: 'grpc-js', msg: format(...args) }, 'grpc-js');
  grpc.setLogger({ error: log, info: log, debug: log });
}

/**
 * A service in grpc-js's registration shape (definition + implementation), so
 * services written against grpc-js (the CA) register unchanged. Unary handlers
 * get `(call, callback)` with call.request / metadata / getPeer() /
 * getAuthContext(); bidi handlers get a BidiCall.
 */
export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  /** By method name; the definition says which shape each has (requestStream: a BidiHandler). */
  implementation: Record<string, grpc.UntypedHandleCall | BidiHandler>;
}

/** A bidi-streaming method as this server runs it: on its own BidiCall, not grpc-js's duplex stream. */
export type BidiHandler = (call: BidiCall) => void;

type Route =
  | { kind: 'bidi'; handler: BidiHandler }
  | {
      kind: 'unary';
      deserialize: (b: Buffer) => unknown;
      serialize: (v: unknown) => Buffer;
      handler: (...args: never[]) => void;
    };

/**
 * The daemon's one gRPC TLS port (xDS + CA, like istiod's 15012): a minimal
 * gRPC server on node:http2. Why not grpc-js's server: a fan-out writes one
 * small message to every stream and reads one ACK back, and grpc-js wraps each
 * HTTP/2 stream in a second object-mode stream with interceptor and
 * (de)serialiser layers — measured at ~40 µs of ~120 µs per stream per message
 * on this machine (bench notes). Only what the daemon needs: unary and
 * bidi-streaming methods, identity encoding, receive limit, keepalive pings,
 * TLS 1.3 with a client certificate requested but not required.
 */
export class GrpcServer {
  private readonly server: http2.Http2SecureServer;
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly detach: () => void;
  private readonly budget: ReceiveBudget;
  private readonly limits: TransportLimits;
  private readonly guard: SessionGuard;
  private readonly refused: RefusalSink;
  /** Reused buffers for chunked writes (full syncs), shared by every call. */
  private readonly chunks = new ChunkPool();
  /** Reused buffers for request messages that span chunks (reconnects), shared by every call. */
  private readonly receivePool: ReceivePool;
  /** Empties the receive pool after a period with no reconnect traffic (RECEIVE_POOL_TRIM_MS). */
  private trimTimer: NodeJS.Timeout | undefined;
  private boundPort = 0;
  private started = false;
  private closed = false;

  constructor(private readonly o: GrpcServerOptions) {
    this.budget = new ReceiveBudget(Math.max(o.maxBufferedReceiveBytes ?? 64 * 1024 * 1024, o.maxReceiveBytes + 5));
    // As many idle bytes as the budget lets be received at once: a storm's messages complete about that many at a
    // time (measured: ~60 leased at once under the 64 MiB default), and a smaller pool missed half its takes.
    this.receivePool = new ReceivePool({ maxIdleBytes: this.budget.total });
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...o.limits };
    this.refused = o.refused ?? (() => undefined);
    this.guard = new SessionGuard(this.limits, this.refused);
    this.server = http2.createSecureServer({
      ...o.credentials.secureContextOptions(),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      allowHTTP1: false,
      maxSessionMemory: o.maxSessionMemoryMb,
      // Node's default is 120 s; the socket is destroyed with ERR_TLS_HANDSHAKE_TIMEOUT.
      handshakeTimeout: this.limits.tlsHandshakeTimeoutMs,
      settings: { maxConcurrentStreams: this.limits.maxConcurrentStreams, enablePush: false },
    });
    // TLS's own 'connection' listener (tls.Server wraps each accepted socket in a TLSSocket) runs only for a
    // socket the per-source limit admits: a refused one is closed before any TLS object exists for it.
    const wrapTls = this.server.listeners('connection') as ((s: Socket) => void)[];
    this.server.removeAllListeners('connection');
    this.server.on('connection', (socket: Socket) => {
      if (this.guard.admitSocket(socket)) for (const l of wrapTls) l.call(this.server, socket);
    });
    // Renewal: new handshakes use the new key/cert/bundle; live connections keep theirs.
    this.detach = o.credentials.onUpdate((opts) => this.server.setSecureContext(opts));
    this.server.on('session', (s) => this.onSession(s));
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    // Garbage on the port, or a failed handshake: that connection is dropped; nothing else to do.
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.refused('tls_handshake_timeout');
    });
    this.server.on('sessionError', () => undefined);
    o.admission?.attach(this.server, 'grpc');
  }

  addService(s: ServiceRegistration): void {
    for (const [name, m] of Object.entries(s.definition)) {
      const handler = s.implementation[name] ?? s.implementation[m.originalName ?? ''];
      if (!handler) throw new Error(`no implementation for ${m.path}`);
      if (m.requestStream !== m.responseStream)
        throw new Error(`${m.path}: only unary and bidi-streaming methods are supported`);
      // ServiceRegistration: a streaming method's handler is a BidiHandler, a unary one takes (call, callback).
      this.routes.set(
        m.path,
        m.requestStream
          ? { kind: 'bidi', handler: handler as BidiHandler }
          : {
              kind: 'unary',
              deserialize: m.requestDeserialize as (b: Buffer) => unknown,
              serialize: m.responseSerialize as (v: unknown) => Buffer,
              handler,
            },
      );
    }
  }

  /** Binds and starts serving; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.started) return this.boundPort;
    const i = this.o.listen.lastIndexOf(':');
    const host = this.o.listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    const port = Number(this.o.listen.slice(i + 1));
    this.boundPort = await new Promise<number>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen(port, host || undefined, () => {
        this.server.off('error', onError);
        // Over-limit sources are refused before Node builds a Socket (about half the CPU of closing one);
        // the 'connection' listener above enforces the same limit if this cannot be installed.
        refuseAtAccept(this.server, (ip) => this.guard.refuseFrom(ip));
        resolve((this.server.address() as AddressInfo).port);
      });
    });
    this.started = true;
    this.trimTimer = setInterval(() => this.receivePool.trimIfQuiet(), RECEIVE_POOL_TRIM_MS);
    this.trimTimer.unref();
    this.o.logger.info({ component: 'grpc', listen: this.o.listen, port: this.boundPort }, 'gRPC TLS server listening');
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Write chunks ever allocated and those idle in the pool now (diagnostics, tests). */
  chunkPool(): { allocated: number; free: number; size: number } {
    return { allocated: this.chunks.allocated, free: this.chunks.free, size: this.chunks.size };
  }

  /** Connections currently open from a source address, as the per-source limit counts them (diagnostics, tests). */
  connectionsFrom(ip: string): number {
    return this.guard.connectionsFrom(ip);
  }

  /** Bytes reserved by large messages in flight, and calls paused waiting for room (diagnostics, tests). */
  receiveBudget(): { inUse: number; queued: number; total: number } {
    return { inUse: this.budget.inUse, queued: this.budget.queued, total: this.budget.total };
  }

  private onSession(session: http2.ServerHttp2Session): void {
    if (this.closed) {
      session.destroy();
      return;
    }
    this.sessions.add(session);
    session.on('error', (err: NodeJS.ErrnoException) => {
      // nghttp2 refuses streams over the advertised SETTINGS_MAX_CONCURRENT_STREAMS itself (RST_STREAM
      // REFUSED_STREAM, never seen here); Node closes a connection once it sent 1,000 such invalid frames.
      if (err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') this.refused('invalid_frames');
    });
    this.guard.watchSession(session);
    // Server keepalive (grpc.keepalive_time_ms / _timeout_ms): a peer that stops answering
    // PINGs is dropped, so a dead ztunnel's stream does not linger. ztunnel pings us every
    // 30 s too (ztunnel src/tls/control.rs); node:http2 answers those itself.
    const every = this.o.keepaliveTimeMs ?? 30_000;
    const timeout = this.o.keepaliveTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      timer = setTimeout(() => {
        // A destroyed session emits 'close' (which clears this timer) only on a later turn,
        // and ping() on it throws: check first, and never let a ping take the process down.
        if (session.destroyed || session.closed) return;
        const deadline = setTimeout(() => session.destroy(), timeout);
        deadline.unref();
        try {
          const ok = session.ping((err) => {
            clearTimeout(deadline);
            if (!err && !session.destroyed) arm();
          });
          if (!ok) clearTimeout(deadline);
        } catch {
          clearTimeout(deadline);
        }
      }, every);
      timer.unref();
    };
    if (every > 0) arm();
    session.once('close', () => {
      if (timer) clearTimeout(timer);
      this.sessions.delete(session);
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    if (!this.guard.admitStream(stream.session!, stream)) return;
    const respond = (h: http2.OutgoingHttpHeaders): void => {
      try {
        if (!stream.destroyed && !stream.closed) stream.respond(h, { endStream: true });
      } catch {
        /* session torn down under us */
      }
      // Then RST_STREAM(NO_ERROR): a refused caller that never half-closes does not keep the stream.
      setImmediate(() => {
        try {
          if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
        } catch {
          /* already gone */
        }
      });
    };
    const trailersOnly = (code: number, message: string): void =>
      respond({
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': message,
      });
    const ct = headers['content-type'] ?? '';
    if (headers[':method'] !== 'POST' || !ct.startsWith('application/grpc')) return void respond({ ':status': 415 });
    const route = this.routes.get(headers[':path'] ?? '');
    if (!route)
      return void trailersOnly(
        grpc.status.UNIMPLEMENTED,
        `The server does not implement the method ${encodeURIComponent(String(headers[':path']))}`,
      );
    const enc = headers['grpc-encoding'];
    if (enc !== undefined && enc !== 'identity')
      return void trailersOnly(grpc.status.UNIMPLEMENTED, 'only identity encoding is supported');
    const env = {
      stream,
      headers,
      maxReceiveBytes: this.o.maxReceiveBytes,
      budget: this.budget,
      chunks: this.chunks,
      receivePool: this.receivePool,
      firstMessageTimeoutMs: this.limits.firstMessageTimeoutMs,
      receiveHoldTimeoutMs: this.limits.receiveHoldTimeoutMs,
      refused: this.refused,
      widenWindow: () => stream.session && this.guard.widenWindow(stream.session),
    };
    try {
      if (route.kind === 'bidi') route.handler(new BidiCall(env));
      else new UnaryCall(env, route as never);
    } catch (e) {
      this.o.logger.error({ component: 'grpc', err: (e as Error).message }, 'gRPC handler threw');
      trailersOnly(grpc.status.INTERNAL, 'internal error');
    }
  }

  /** Graceful: stops accepting, lets in-flight calls finish (callers end their streams first), bounded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    const serverClosed = new Promise<void>((resolve) =>
      this.started ? this.server.close(() => resolve()) : resolve(),
    );
    for (const s of this.sessions) s.close();
    const bound = new Promise<void>((resolve) => setTimeout(resolve, this.o.closeTimeoutMs ?? 5000).unref());
    await Promise.race([serverClosed, bound]);
    this.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.detach();
    if (this.trimTimer) clearInterval(this.trimTimer);
    this.trimTimer = undefined;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    if (this.server.listening) this.server.close();
  }
}
