import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Bounds on what a caller of the gRPC TLS port can hold before (and while)
 * it is authenticated. Anchors: istiod's gRPC server (keepalive enforcement,
 * MaxConcurrentStreams, connection age) and Envoy's overload manager
 * (handshake/idle timeouts, per-connection stream caps, connection limits).
 * Every timeout is a deadline, never a sleep: a resource that misses it is
 * closed and the refusal is reported by reason.
 */
export interface TransportLimits {
  /** A TLS handshake must finish within this long (ms). */
  tlsHandshakeTimeoutMs: number;
  /** After TLS, the client's HTTP/2 preface and SETTINGS must arrive within this long (ms). */
  prefaceTimeoutMs: number;
  /** A connection with no open stream for this long is closed with GOAWAY (ms). */
  idleTimeoutMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection; streams beyond it are refused. */
  maxConcurrentStreams: number;
  /** A call must deliver its first request message within this long of opening (ms). */
  firstMessageTimeoutMs: number;
  /** Connections open at once from one source IP address; more are closed on accept. */
  maxConnectionsPerSource: number;
  /** A receive-budget reservation expires if its message has not fully arrived within this long (ms). */
  receiveHoldTimeoutMs: number;
  /**
   * HTTP/2 receive window (SETTINGS_INITIAL_WINDOW_SIZE per stream, and the
   * connection window) of a session once one of its streams presented valid
   * credentials and was granted receive budget for a large message. Until then
   * a session keeps HTTP/2's default 65,535 bytes (RFC 9113 §6.9.2), so an
   * unauthenticated caller, or one waiting for room, can put no more in flight.
   */
  authenticatedWindowBytes: number;
}

/** HTTP/2's initial window (RFC 9113 §6.9.2): what every session starts with. */
export const DEFAULT_HTTP2_WINDOW = 65_535;

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  tlsHandshakeTimeoutMs: 10_000,
  prefaceTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxConcurrentStreams: 100,
  firstMessageTimeoutMs: 10_000,
  maxConnectionsPerSource: 128,
  receiveHoldTimeoutMs: 10_000,
  authenticatedWindowBytes: 1024 * 1024,
};

/** Why the transport closed something an outsider held (bounded label values). */
export type RefusalReason =
  | 'per_source_limit'
  | 'tls_handshake_timeout'
  | 'preface_timeout'
  | 'idle_timeout'
  | 'stream_limit'
  | 'invalid_frames'
  | 'first_message_timeout'
  | 'receive_stalled';

export type RefusalSink = (reason: RefusalReason) => void;

/** `ambientd_grpc_refusals_total{reason}`: one increment per connection or stream the transport closed. */
export function transportRefusalCounter(registry: Registry): RefusalSink {
  const c = new Counter({
    name: 'ambientd_grpc_refusals_total',
    help: 'Connections and streams the gRPC TLS port closed because a limit or deadline was hit, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return (reason) => c.inc({ reason });
}

/** The receive budget at scrape time: bytes reserved by large messages being received, and calls queued for room. */
export function receiveBudgetGauges(registry: Registry, read: () => { inUse: number; queued: number }): void {
  new Gauge({
    name: 'ambientd_grpc_receive_budget_bytes',
    help: 'Bytes of large request messages reserved while being received.',
    registers: [registry],
    collect(this: Gauge): void {
      this.set(read().inUse);
    },
  });
  new Gauge({
    name: 'ambientd_grpc_receive_budget_queued_calls',
    help: 'Calls paused until the receive budget has room.',
    registers: [registry],
    collect(this: Gauge): void {
      this.set(read().queued);
    },
  });
}
