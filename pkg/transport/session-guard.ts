import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { DEFAULT_HTTP2_WINDOW, type RefusalSink, type TransportLimits } from './limits';

/**
 * Connection-level bounds of the gRPC TLS port (see TransportLimits): how
 * many connections one source address may hold, the HTTP/2 preface deadline
 * after TLS, the idle deadline of a connection without streams, and the
 * per-connection stream cap. One guard per server; it owns the per-source
 * counts and the per-session stream counts, and nothing else reads them.
 */
export class SessionGuard {
  private readonly perSource = new Map<string, number>();
  private readonly open = new WeakMap<http2.Http2Session, SessionState>();

  constructor(
    private readonly limits: TransportLimits,
    private readonly refused: RefusalSink,
  ) {}

  /**
   * An accepted connection from `ip`, before any Socket exists for it
   * (accept-filter.ts): true = refuse it (over the per-source limit; counted).
   * The admitted ones are counted by admitSocket.
   */
  refuseFrom(ip: string): boolean {
    if ((this.perSource.get(ip) ?? 0) < this.limits.maxConnectionsPerSource) return false;
    this.refused('per_source_limit');
    return true;
  }

  /** Accepted TCP socket, before TLS: false = closed (over the per-source limit). */
  admitSocket(socket: Socket): boolean {
    const ip = socket.remoteAddress ?? 'unknown';
    const n = this.perSource.get(ip) ?? 0;
    if (n >= this.limits.maxConnectionsPerSource) {
      this.refused('per_source_limit');
      socket.destroy();
      return false;
    }
    this.perSource.set(ip, n + 1);
    socket.once('close', () => {
      const left = (this.perSource.get(ip) ?? 1) - 1;
      if (left <= 0) this.perSource.delete(ip);
      else this.perSource.set(ip, left);
    });
    return true;
  }

  /** Connections currently counted for a source address (diagnostics, tests). */
  connectionsFrom(ip: string): number {
    return this.perSource.get(ip) ?? 0;
  }

  /**
   * A new HTTP/2 session (TLS is done): the client's SETTINGS (sent right
   * after its preface, RFC 9113 §3.4) must arrive within prefaceTimeoutMs,
   * and from then on the session may stay without streams for at most
   * idleTimeoutMs.
   */
  watchSession(session: http2.ServerHttp2Session): void {
    const st: SessionState = { streams: 0, timer: undefined, settled: false, widened: false };
    this.open.set(session, st);
    const clear = (): void => {
      if (st.timer) clearTimeout(st.timer);
      st.timer = undefined;
    };
    st.timer = setTimeout(() => {
      st.timer = undefined;
      if (st.settled || session.destroyed) return;
      this.refused('preface_timeout');
      session.destroy();
    }, this.limits.prefaceTimeoutMs);
    st.timer.unref();
    session.once('remoteSettings', () => {
      st.settled = true;
      clear();
      this.armIdle(session, st);
    });
    session.once('close', clear);
  }

  /** A stream opened: false = refused (over the per-connection cap; already reset). */
  admitStream(session: http2.Http2Session, stream: http2.ServerHttp2Stream): boolean {
    const st = this.open.get(session);
    if (!st) return true;
    if (st.streams >= this.limits.maxConcurrentStreams) {
      this.refused('stream_limit');
      try {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      } catch {
        /* already gone */
      }
      return false;
    }
    st.streams++;
    if (st.timer) {
      clearTimeout(st.timer);
      st.timer = undefined;
    }
    stream.once('close', () => {
      st.streams--;
      if (st.streams === 0 && st.settled && !session.destroyed && !session.closed) this.armIdle(session, st);
    });
    return true;
  }

  /**
   * A stream of this session presented valid credentials and holds receive
   * budget for a large message (BaseCall.authenticated): the session's
   * receive window grows to authenticatedWindowBytes, once. SETTINGS
   * INITIAL_WINDOW_SIZE resizes every stream window of the session, open ones
   * included (RFC 9113 §6.9.2), and a WINDOW_UPDATE on stream 0 the
   * connection window, so a ~1 MB reconnect request crosses in about one
   * round trip instead of one per 64 KiB. Node replenishes a stream's window
   * only as the call reads (a paused call holds the sender), so a session
   * not widened has at most 64 KiB per stream in flight while its call waits.
   */
  widenWindow(session: http2.Http2Session): void {
    const st = this.open.get(session);
    const w = this.limits.authenticatedWindowBytes;
    if (!st || st.widened || w <= DEFAULT_HTTP2_WINDOW || session.destroyed || session.closed) return;
    st.widened = true;
    try {
      session.settings({ initialWindowSize: w });
      session.setLocalWindowSize(w);
    } catch {
      /* session torn down under us */
    }
  }

  private armIdle(session: http2.Http2Session, st: SessionState): void {
    if (st.timer) clearTimeout(st.timer);
    st.timer = setTimeout(() => {
      st.timer = undefined;
      if (st.streams > 0 || session.destroyed || session.closed) return;
      this.refused('idle_timeout');
      // GOAWAY(NO_ERROR) then close: a well-behaved client opens a new connection when it needs one.
      session.close();
      // close() waits for open streams; there are none, but a peer that never reads could hold the
      // socket: the same deadline again, then the connection is dropped.
      setTimeout(() => session.destroyed || session.destroy(), this.limits.idleTimeoutMs).unref();
    }, this.limits.idleTimeoutMs);
    st.timer.unref();
  }
}

interface SessionState {
  streams: number;
  timer: NodeJS.Timeout | undefined;
  /** The client's SETTINGS arrived. */
  settled: boolean;
  /** The receive window was raised (a stream authenticated). */
  widened: boolean;
}
