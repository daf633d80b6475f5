import type * as grpc from '@grpc/grpc-js';
import { GRPC_PREFIX_BYTES, UNPOOLED, type BidiCall, type MessageLease, type ServiceRegistration } from '../transport';
import type { DetailedPeerCertificate } from 'node:tls';
import { scanDeltaRequest, type NodeInfo, type ScannedRequest, type Wire } from '../wire';
import { GrpcCode, isDaemonError } from '../errors';
import { LogLimiter, type Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { ResourceCache } from './cache';
import { XdsStream, type StreamSink, type StreamStatus } from './stream';
import type { XdsMetrics } from './metrics';
import { FanOut, SharedResponses } from './fanout';
import { RequestPump, type PumpLimits } from './request-pump';

export const ADS_DELTA_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/**
 * The verified client certificate WITH its issuer chain (issuerCertificate
 * links): the authenticator checks that a caller's chain anchors in the roots
 * of its own trust domain. The transport reports it only when the handshake
 * verified it against the trust bundle (socket.authorized).
 */
function verifiedPeerCertificate(call: BidiCall): DetailedPeerCertificate | undefined {
  return call.getAuthContext().sslPeerCertificate;
}

/** What the server needs to know about a caller; the daemon binds it to pkg/auth. */
export interface XdsCallContext {
  metadata: Record<string, string[]>;
  peerCertificate?: DetailedPeerCertificate;
  remoteAddress?: string;
}

/** `Identity` is what `authenticate` resolves a caller to; the server only hands it back to the hooks below. */
export interface XdsServerOptions<Identity = unknown> {
  wire: Wire;
  cache: ResourceCache;
  logger: Logger;
  clock: Clock;
  metrics: XdsMetrics;
  typeOrder: readonly string[];
  /** Resolves the caller's identity or throws (DaemonError with an opaque publicMessage). */
  authenticate: (ctx: XdsCallContext) => Promise<Identity>;
  /** May this identity watch this type? (ztunnels: workload types; peers: peering types). */
  authorizeType?: (identity: Identity, typeUrl: string, node: NodeInfo | undefined) => boolean;
  /** Checks the first node against the identity (istiod: namespace must match NAMESPACE metadata). */
  checkNode?: (identity: Identity, node: NodeInfo) => string | undefined;
  onAck?: (s: XdsStream, typeUrl: string, latencyMs: number | undefined, originAt: number | undefined) => void;
  /**
   * Told each time a fan-out pass ends: every stream subscribed when the commit landed has been handed its response
   * (FanOut). The daemon charges a push's budget up to here (docs/design/push-budget.md).
   */
  onFanoutEnd?: () => void;
  /** Requests buffered per stream while authentication is pending. */
  maxPendingRequests?: number;
  /** Streams written per event-loop turn when a commit fans out (default 32). */
  fanoutBatch?: number;
  /** A stream whose authentication has not finished within this long is refused (ms; default 10 s). */
  authTimeoutMs?: number;
  /** Resource names one stream may subscribe to across its types (default 1 M). */
  maxNamesPerStream?: number;
  /** Lines per second: authentication refusals server-wide, NACKs and unknown types per stream (default 5). */
  repeatLogsPerSecond?: number;
  /** Per-stream request budgets (RequestPump's defaults where unset). */
  streamLimits?: PumpLimits;
}

/** Delta ADS over the transport's bidi calls with raw-bytes (de)serialisers: we encode/decode ourselves. */
export class XdsServer<Identity = unknown> {
  private readonly streams = new Set<XdsStream>();
  private nextId = 1;
  private draining = false;
  private readonly unsubscribe: () => void;
  private readonly shared: SharedResponses;
  private readonly fanout: FanOut;
  /** A commit is being fanned out: large requests' slices wait (RequestPump.defer), the push goes first. */
  private pushing = false;
  /** Authentication refusals and malformed requests: at most repeatLogsPerSecond lines per second; all are counted. */
  private readonly refusalLog: LogLimiter;
  /** The streams' parent logger: one child for all of them (a child per stream was ~2 % of a reconnect storm). */
  private readonly streamLog: Logger;

  constructor(private readonly o: XdsServerOptions<Identity>) {
    this.refusalLog = new LogLimiter(o.repeatLogsPerSecond ?? 5, () => o.clock.monotonic());
    this.streamLog = o.logger.child({ component: 'xds' });
    this.shared = new SharedResponses(o.cache);
    const begin = (): void => {
      this.pushing = true;
      this.shared.hold();
    };
    const end = (): void => {
      this.pushing = false;
      this.shared.release();
      o.onFanoutEnd?.();
    };
    this.fanout = new FanOut(() => this.streams, o.fanoutBatch, { begin, end });
    this.unsubscribe = o.cache.onCommit(() => {
      this.pushing = true; // from the commit on: the fan-out's first batch runs a turn later
      this.fanout.trigger();
    });
  }

  /** The service definition + handler to add to the daemon's gRPC server. */
  service(): ServiceRegistration {
    const raw = (b: Buffer): Buffer => b;
    const definition: grpc.ServiceDefinition = {
      DeltaAggregatedResources: {
        path: ADS_DELTA_PATH,
        requestStream: true,
        responseStream: true,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
        originalName: 'deltaAggregatedResources',
      },
    };
    const implementation: ServiceRegistration['implementation'] = {
      DeltaAggregatedResources: (call: BidiCall) => this.handle(call),
    };
    return { definition, implementation };
  }

  private handle(call: BidiCall): void {
    const log = this.o.logger;
    if (this.draining) {
      call.finish(GrpcCode.UNAVAILABLE, 'server shutting down');
      return;
    }
    const id = String(this.nextId++);
    let stream: XdsStream | undefined;
    let ended = false;
    const pending: { buf: Buffer; lease: MessageLease }[] = [];
    const maxPending = this.o.maxPendingRequests ?? 64;
    const sink: StreamSink = {
      write: (buf, done) => {
        if (ended) return void done();
        call.write(buf, () => done());
      },
      writeFramed: (frame, done) => {
        if (ended) return void done();
        call.writeFramed(frame, done);
      },
      headroom: GRPC_PREFIX_BYTES,
      close: (code, details) => {
        if (ended) return;
        ended = true;
        call.finish(code, details);
      },
    };
    const fail = (code: number, details: string): void => {
      if (stream) stream.end(code, details);
      else sink.close(code, details);
    };
    const decode = (buf: Buffer): ScannedRequest | undefined => {
      try {
        return scanDeltaRequest(this.o.wire.DeltaDiscoveryRequest, buf);
      } catch (e) {
        const line = this.refusalLog.take();
        if (line) log.warn({ streamId: id, err: (e as Error).message, ...line }, 'malformed xDS request');
        else this.o.metrics.logSuppressed.inc({ kind: 'malformed' });
        fail(GrpcCode.INVALID_ARGUMENT, 'malformed DeltaDiscoveryRequest');
        return undefined;
      }
    };
    const gone = (): void => {
      ended = true;
      for (const p of pending.splice(0)) p.lease.release();
      stream?.dispose();
    };
    // Bounded work per turn for this stream (reading paused while requests wait): no stream starves the others.
    const pump = new RequestPump({
      decode,
      apply: (req, lease) => stream!.onRequest(req, lease),
      sliceable: (typeUrl) => this.o.typeOrder.includes(typeUrl),
      closed: () => ended,
      read: call,
      ...this.o.streamLimits,
      now: () => this.o.clock.monotonic(),
      onThrottle: (rate) => this.o.metrics.throttled.inc({ rate }),
      defer: () => this.pushing,
      onDrained: () => {
        // Client half-closed and everything it sent is applied: finish cleanly.
        if (!ended) sink.close(GrpcCode.OK, 'OK');
        gone();
      },
    });
    // Each message's lease goes with it (to the pump, which releases it) or is released here.
    call.on('data', (buf: Buffer, lease: MessageLease = UNPOOLED) => {
      if (ended) return void lease.release();
      if (stream) return void pump.push(buf, lease);
      if (pending.length >= maxPending) {
        lease.release();
        return void fail(GrpcCode.RESOURCE_EXHAUSTED, 'too many requests before authentication');
      }
      pending.push({ buf, lease });
    });
    call.on('end', () => {
      if (stream) pump.end();
      else {
        if (!ended) sink.close(GrpcCode.OK, 'OK');
        gone();
      }
    });
    call.on('cancelled', gone);
    call.on('error', gone);
    call.on('close', gone);

    const ctx: XdsCallContext = {
      metadata: metadataToRecord(call.metadata),
      peerCertificate: verifiedPeerCertificate(call),
      remoteAddress: call.getPeer(),
    };
    // Credentials are in the stream's headers; resolving them (a JWKS fetch, say) is bounded too.
    let authTimer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      const ms = this.o.authTimeoutMs ?? 10_000;
      authTimer = setTimeout(() => reject(new Error('authentication did not finish in time')), ms);
      authTimer.unref();
    });
    const authenticated = Promise.race([this.o.authenticate(ctx), timedOut]);
    authenticated.finally(() => clearTimeout(authTimer)).catch(() => undefined);
    authenticated.then(
      (identity) => {
        if (ended) return;
        call.authenticated(); // the transport may now give this connection a larger receive window
        stream = new XdsStream({
          id,
          cache: this.o.cache,
          sink,
          logger: this.streamLog,
          clock: this.o.clock,
          metrics: this.o.metrics,
          typeOrder: this.o.typeOrder,
          identity,
          authorizeType: this.o.authorizeType ? (t, node) => this.o.authorizeType!(identity, t, node) : undefined,
          checkNode: this.o.checkNode ? (node) => this.o.checkNode!(identity, node) : undefined,
          onClose: (s) => {
            if (this.streams.delete(s)) this.o.metrics.clients.dec({ version: 'ambientd' });
          },
          onAck: this.o.onAck,
          shared: this.shared,
          maxNames: this.o.maxNamesPerStream,
          repeatLogsPerSecond: this.o.repeatLogsPerSecond,
        });
        this.streams.add(stream);
        this.o.metrics.clients.inc({ version: 'ambientd' });
        for (const p of pending.splice(0)) {
          if (ended) p.lease.release();
          else pump.push(p.buf, p.lease);
        }
      },
      (err: unknown) => {
        // Opaque to the caller (it learns nothing to probe with), complete in the log.
        const reason = isDaemonError(err) ? err.message : (err as Error)?.message;
        const code = isDaemonError(err) ? err.grpcCode : GrpcCode.UNAUTHENTICATED;
        const pub = isDaemonError(err) ? err.publicMessage : 'authentication failed';
        this.o.metrics.authRefusals.inc({ reason: isDaemonError(err) ? err.code : 'auth.failed' });
        const line = this.refusalLog.take();
        if (line) log.warn({ streamId: id, peer: ctx.remoteAddress, reason, ...line }, 'xDS caller refused');
        else this.o.metrics.logSuppressed.inc({ kind: 'auth_refused' });
        sink.close(code, pub);
      },
    );
  }

  /** Read-only view for /debug/syncz and `ambientd check`. */
  status(): StreamStatus[] {
    return [...this.streams].map((s) => s.status());
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** All streams whose every type has ACKed its latest response. */
  allInSync(): boolean {
    for (const s of this.streams) if (!s.inSync) return false;
    return true;
  }

  /** Stop accepting streams and end the open ones with UNAVAILABLE so clients reconnect elsewhere. */
  async close(): Promise<void> {
    this.draining = true;
    this.unsubscribe();
    this.fanout.close();
    for (const s of [...this.streams]) s.end(GrpcCode.UNAVAILABLE, 'server shutting down');
  }

  destroy(): void {
    void this.close();
  }
}

export function metadataToRecord(md: grpc.Metadata): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(md.getMap())) {
    const all = md.get(k).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x));
    out[k.toLowerCase()] = all.length ? all : [String(v)];
  }
  return out;
}
