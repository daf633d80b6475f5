import * as http2 from 'node:http2';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import type { TrustAnchors } from '../auth';
import { bindServer } from './bind-server';
import { authenticateCaller } from './caller';
import { CONNECTION_WINDOW, serverOptions, tlsOptions, type ServingIdentity } from './server-options';
import type { LocalityMsg } from '../translate';
import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import type { GatewayMetrics } from './metrics';
import { REFUSALS, RefusalLog, type RefusalReason } from './refusals';
import { pickEndpoint, type RouteTable } from './routes';
import { Tunnel, type TunnelEnd, type TunnelView } from './tunnel';

/** The destination ztunnel's HBONE port: the gateway always dials it (docs/design/hbone.md). */
export const HBONE_PORT = 15008;
/** ztunnel's server PINGs every 10 s and drops a connection after 20 s without a pong. */
const PING_EVERY_MS = 10_000;
/**
 * Bytes queued toward a destination before pipe() pauses the caller's stream.
 * Above node's 16 KiB default so that a batch of chunks (Tunnel's cork) is not
 * cut at the first one; the stream window (4 MiB) still bounds what a caller
 * can have in flight.
 */
const DESTINATION_WRITE_BUFFER = 256 * 1024;
const PING_TIMEOUT_MS = 20_000;

export interface ListenerLimits {
  maxConnections: number;
  maxTunnels: number;
  maxConcurrentStreams: number;
  handshakeTimeout: number;
  dialTimeout: number;
  idleTimeout: number;
  sessionIdleTimeout: number;
}

export interface HboneListenerOptions {
  limits: ListenerLimits;
  /** Trust domain → roots of accepted callers (the mesh roots for the local one, peer bundles for others). */
  anchors: TrustAnchors;
  routes: () => RouteTable;
  locality?: LocalityMsg;
  /** The port dialled on the endpoint (15008; tests may point it elsewhere). */
  destinationPort?: number;
  metrics: GatewayMetrics;
  clock: Clock;
  logger: Logger;
}

interface DialTarget {
  caller: string;
  authority: string;
  uid: string;
  ip: string;
}

interface SessionState {
  caller: string;
  open: number;
  idle?: NodeJS.Timeout;
  ping?: NodeJS.Timeout;
  pingSentAt?: number;
}

/**
 * The HBONE front door (docs/design/hbone.md, Gateway requirements): TLS 1.3 with ztunnel's
 * AES-GCM suites, ALPN h2 only, no SNI needed, a client certificate required
 * and checked twice (the TLS layer against every accepted root, then its
 * SPIFFE id's trust domain against that trust domain's own roots), then
 * HTTP/2 CONNECT `hostname:port` per tunnel. Everything an outsider opens is
 * bounded: connections (maxConnections), handshakes (handshakeTimeout),
 * connections without tunnels (sessionIdleTimeout), dead peers (PING), tunnels
 * (maxTunnels, idleTimeout) and dials (dialTimeout).
 */
export class HboneListener {
  private readonly servers: http2.Http2SecureServer[] = [];
  private readonly sessions = new Map<http2.ServerHttp2Session, SessionState>();
  private readonly tunnels = new Map<number, Tunnel>();
  private readonly pending = new Set<net.Socket>();
  private readonly activeByEndpoint = new Map<string, number>();
  private readonly refusalLog: RefusalLog;
  private readonly log: Logger;
  private nextId = 1;
  private draining = false;
  /** Set while a drain waits for the last tunnel. */
  private onIdle?: () => void;
  private openSockets = 0;
  /** Bytes of tunnels already closed, by direction. */
  private closedBytes = { toDestination: 0, toClient: 0 };

  constructor(private readonly o: HboneListenerOptions) {
    this.log = o.logger.child({ component: 'eastwest-hbone' });
    this.refusalLog = new RefusalLog(this.log, () => o.clock.monotonic());
  }

  /** Starts one listener per address; resolves with their bound ports. */
  async listen(addresses: readonly string[], id: ServingIdentity): Promise<number[]> {
    const ports: number[] = [];
    for (const a of addresses) {
      const server = this.createServer(id);
      this.servers.push(server);
      ports.push(await bindServer(server, a));
    }
    return ports;
  }

  /** New certificate or roots: new handshakes use them; open connections keep theirs. */
  rotate(id: ServingIdentity): void {
    for (const s of this.servers) s.setSecureContext(tlsOptions(id, this.o.anchors));
  }

  private createServer(id: ServingIdentity): http2.Http2SecureServer {
    const server = http2.createSecureServer(serverOptions(id, this.o.anchors, this.o.limits));
    server.maxConnections = this.o.limits.maxConnections;
    server.on('drop', () => this.refuse('max_connections', {}));
    server.on('connection', (s: net.Socket) => {
      this.openSockets++;
      this.o.metrics.connectionsOpen.set(this.openSockets);
      s.setNoDelay(true);
      s.setKeepAlive(true, 180_000);
      s.once('close', () => {
        this.openSockets--;
        this.o.metrics.connectionsOpen.set(this.openSockets);
      });
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => {
      const timeout = /timed? ?out/i.test(err.message) || err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      this.refuse(timeout ? 'handshake_timeout' : 'tls_handshake', { peer: s?.remoteAddress, err: err.message });
    });
    server.on('unknownProtocol', (s: tls.TLSSocket) => {
      this.refuse('tls_handshake', { peer: s.remoteAddress, err: `ALPN ${String(s.alpnProtocol)} is not h2` });
      s.destroy();
    });
    server.on('session', (session: http2.ServerHttp2Session) => this.onSession(session));
    server.on('stream', (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => this.onStream(s, h));
    // Errors of one session must not reach the server (node would rethrow them).
    server.on('sessionError', (err: Error) => this.log.debug({ err: err.message }, 'session error'));
    return server;
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const socket = session.socket as tls.TLSSocket;
    const auth = authenticateCaller(socket, this.o.anchors);
    if ('why' in auth) {
      // Opaque to the caller (the connection just closes, as ztunnel does); the reason goes to the log.
      this.refuse('untrusted_caller', { peer: socket.remoteAddress, why: auth.why });
      session.destroy();
      return;
    }
    this.o.metrics.connectionsAccepted.inc();
    const st: SessionState = { caller: auth.caller, open: 0 };
    this.sessions.set(session, st);
    try {
      session.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      /* the session is already closing */
    }
    if (this.draining) session.close();
    this.armIdle(session, st);
    st.ping = setInterval(() => this.ping(session, st), PING_EVERY_MS);
    st.ping.unref?.();
    session.on('error', (err: Error) => this.log.debug({ err: err.message, caller: st.caller }, 'connection error'));
    session.once('close', () => {
      if (st.idle) clearTimeout(st.idle);
      if (st.ping) clearInterval(st.ping);
      this.sessions.delete(session);
    });
  }

  private ping(session: http2.ServerHttp2Session, st: SessionState): void {
    const now = this.o.clock.monotonic();
    if (st.pingSentAt !== undefined) {
      if (now - st.pingSentAt > PING_TIMEOUT_MS) session.destroy();
      return;
    }
    st.pingSentAt = now;
    try {
      session.ping((err) => {
        if (!err) st.pingSentAt = undefined;
      });
    } catch {
      session.destroy();
    }
  }

  /** A connection with no tunnel for sessionIdleTimeout gets a graceful GOAWAY. */
  private armIdle(session: http2.ServerHttp2Session, st: SessionState): void {
    if (st.idle) clearTimeout(st.idle);
    st.idle = undefined;
    if (st.open > 0) return;
    st.idle = setTimeout(() => {
      if (st.open === 0 && !session.closed) {
        this.refuse('session_idle', { caller: st.caller });
        session.close();
      }
    }, this.o.limits.sessionIdleTimeout);
    st.idle.unref?.();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const st = this.sessions.get(stream.session as http2.ServerHttp2Session);
    if (!st) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    st.open++;
    this.armIdle(stream.session as http2.ServerHttp2Session, st);
    stream.once('close', () => {
      st.open--;
      if (stream.session && !stream.session.destroyed) this.armIdle(stream.session as http2.ServerHttp2Session, st);
    });
    stream.on('error', () => undefined); // outcome is handled by 'close'
    const authority = headers[':authority'];
    const fields = { caller: st.caller, authority };
    const method = headers[':method'];
    if (method !== 'CONNECT') return void this.answer(stream, 'method_not_allowed', { ...fields, method });
    if (this.draining) return void this.answer(stream, 'draining', fields);
    const r = this.o.routes().resolve(authority);
    if (!r.ok) return void this.answer(stream, r.reason, fields);
    const open = this.tunnels.size + this.pending.size;
    if (open >= this.o.limits.maxTunnels) return void this.answer(stream, 'max_tunnels', fields);
    const ep = pickEndpoint(r.route, this.o.locality, (uid) => this.activeByEndpoint.get(uid) ?? 0);
    if (!ep) return void this.answer(stream, 'no_healthy_endpoint', fields);
    this.dial(stream, { caller: st.caller, authority: authority!, uid: ep.uid, ip: ep.ip });
  }

  private dial(stream: http2.ServerHttp2Stream, t: DialTarget): void {
    const port = this.o.destinationPort ?? HBONE_PORT;
    const endpoint = net.isIPv6(t.ip) ? `[${t.ip}]:${port}` : `${t.ip}:${port}`;
    this.activeByEndpoint.set(t.uid, (this.activeByEndpoint.get(t.uid) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const n = (this.activeByEndpoint.get(t.uid) ?? 1) - 1;
      if (n <= 0) this.activeByEndpoint.delete(t.uid);
      else this.activeByEndpoint.set(t.uid, n);
    };
    const t0 = this.o.clock.monotonic();
    // Plain TCP, no TLS: the bytes that follow are the caller's own inner HBONE session.
    // net.Socket hands its options to stream.Duplex, which reads writableHighWaterMark (@types/node omits it).
    const opts: net.TcpNetConnectOpts & { writableHighWaterMark: number } = {
      host: t.ip,
      port,
      allowHalfOpen: true,
      noDelay: true,
      writableHighWaterMark: DESTINATION_WRITE_BUFFER,
    };
    const socket = net.connect(opts);
    this.pending.add(socket);
    const ms = this.o.limits.dialTimeout;
    const deadline = setTimeout(() => socket.destroy(new Error(`connect timed out after ${ms} ms`)), ms);
    // Before the connect, the dial ends one way: an error (refused, reset, deadline) answers 503; the
    // caller going away destroys the socket, which then closes without an error and answers nobody.
    const abandon = (err?: Error): void => {
      if (!this.pending.delete(socket)) return;
      clearTimeout(deadline);
      stream.off('close', callerGone);
      release();
      this.settle();
      this.o.metrics.dialSeconds.observe((this.o.clock.monotonic() - t0) / 1000);
      if (!err) return;
      this.answer(stream, 'dial_failed', { caller: t.caller, authority: t.authority, endpoint, err: err.message });
    };
    const callerGone = (): void => {
      socket.destroy();
    };
    stream.once('close', callerGone);
    socket.once('error', (err: Error) => abandon(err));
    socket.once('close', () => abandon());
    socket.once('connect', () => {
      clearTimeout(deadline);
      this.pending.delete(socket);
      stream.off('close', callerGone);
      this.o.metrics.dialSeconds.observe((this.o.clock.monotonic() - t0) / 1000);
      if (stream.destroyed || stream.closed) {
        release();
        socket.destroy();
        return;
      }
      // 200 only after the connect, without END_STREAM, as ztunnel's inbound does.
      stream.respond({ ':status': 200 });
      const id = this.nextId++;
      const tunnel = new Tunnel(stream, socket, {
        id,
        caller: t.caller,
        authority: t.authority,
        endpoint,
        openedAt: this.o.clock.now(),
        idleTimeoutMs: this.o.limits.idleTimeout,
        onEnd: (tn, why) => this.ended(tn, id, why, release),
      });
      this.tunnels.set(id, tunnel);
      this.o.metrics.tunnelsOpened.inc();
      this.o.metrics.tunnelsOpen.set(this.tunnels.size);
    });
  }

  /** Called whenever a tunnel or dial ends: wakes a drain waiting for the last one. */
  private settle(): void {
    if (this.onIdle && this.tunnels.size + this.pending.size === 0) this.onIdle();
  }

  private ended(t: Tunnel, id: number, why: TunnelEnd, release: () => void): void {
    this.tunnels.delete(id);
    this.settle();
    release();
    this.closedBytes.toDestination += t.bytesToDestination;
    this.closedBytes.toClient += t.bytesToClient;
    this.o.metrics.tunnelsOpen.set(this.tunnels.size);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ ...t.view(), why }, 'tunnel closed');
  }

  /** A non-200 answer with END_STREAM; the HTTP/2 connection stays up for its other streams. */
  private answer(stream: http2.ServerHttp2Stream, reason: RefusalReason, fields: Record<string, unknown>): void {
    this.refuse(reason, fields);
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({ ':status': REFUSALS[reason] || 503 }, { endStream: true });
  }

  private refuse(reason: RefusalReason, fields: Record<string, unknown>): void {
    this.o.metrics.refusals.inc({ reason });
    this.refusalLog.refused(reason, fields);
  }

  /** Bytes relayed so far, closed and open tunnels together (monotonic). */
  bytes(): { toDestination: number; toClient: number } {
    let d = this.closedBytes.toDestination;
    let c = this.closedBytes.toClient;
    for (const t of this.tunnels.values()) {
      d += t.bytesToDestination;
      c += t.bytesToClient;
    }
    return { toDestination: d, toClient: c };
  }

  get tunnelCount(): number {
    return this.tunnels.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  listTunnels(limit = 1000): TunnelView[] {
    const out: TunnelView[] = [];
    for (const t of this.tunnels.values()) {
      if (out.length >= limit) break;
      out.push(t.view());
    }
    return out;
  }

  /**
   * Graceful drain: listeners stop accepting, every connection gets GOAWAY
   * (no new streams; node:http2's close() lets open streams finish), streams
   * that still arrive are answered 503. Resolves when no tunnel is left or at
   * the deadline, when the rest are cut.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    for (const s of this.servers) s.close();
    for (const session of this.sessions.keys()) if (!session.closed) session.close();
    if (this.tunnels.size + this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.onIdle = undefined;
    this.destroy('drain_deadline');
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Cuts everything now. */
  destroy(why: TunnelEnd = 'closed'): void {
    this.draining = true;
    for (const s of this.servers) s.close();
    for (const t of [...this.tunnels.values()]) t.abort(why);
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    for (const session of [...this.sessions.keys()]) session.destroy();
  }
}
