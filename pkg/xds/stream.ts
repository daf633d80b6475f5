import type { DeltaRequest, NodeInfo } from '../wire';
import type { MessageLease } from '../transport';
import { GrpcCode } from '../errors';
import { LogLimiter, type Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { ResourceCache } from './cache';
import { newTypeState, owesResponse, owesSlices, subscribedNames } from './type-states';
import { nextResponse, type TypeState } from './diff';
import { shortType, type XdsMetrics } from './metrics';
import type { SharedResponses } from './fanout';
import { ResponseWriter, type StreamSink } from './response-writer';
import type { StreamStatus } from './status';
import { buildStreamStatus } from './stream-status';
import { ReplyRecorder } from './reply-recorder';

export type { StreamStatus, TypeStatus } from './status';
export type { StreamSink } from './response-writer';

export interface StreamOptions {
  id: string;
  cache: ResourceCache;
  sink: StreamSink;
  logger: Logger;
  clock: Clock;
  metrics: XdsMetrics;
  /** Type URLs this server serves, in push order (Address before Authorization: make-before-break). */
  typeOrder: readonly string[];
  identity?: unknown;
  /** May this stream watch this (known) type? */
  authorizeType?: (typeUrl: string, node: NodeInfo | undefined) => boolean;
  /** Validates the first node seen; returns a reason to refuse, or undefined. */
  checkNode?: (node: NodeInfo) => string | undefined;
  onClose?: (s: XdsStream) => void;
  onAck?: (s: XdsStream, typeUrl: string, latencyMs: number | undefined, originAt: number | undefined) => void;
  /** Server-wide fan-out memo: caught-up wildcard streams share one encoded body. */
  shared?: SharedResponses;
  /** Resource names this stream may subscribe to, all types together (default 1 M). */
  maxNames?: number;
  /** NACK and unknown-type warnings logged per second on this stream (default 5); all are counted. */
  repeatLogsPerSecond?: number;
}

/**
 * One delta-ADS stream: subscription bookkeeping, ACK/NACK, and turning cache
 * changes into at most one response per type per flush. A slow client costs
 * one cursor per type: while a write is outstanding nothing else is queued,
 * and the next flush sends the coalesced diff since the cursor.
 */
export class XdsStream {
  readonly id: string;
  readonly connectedAt: number;
  node?: NodeInfo;
  private readonly types = new Map<string, TypeState>();
  /** The same states in push order (typeOrder's index; undefined until the type's first request): what flush walks. */
  private readonly ordered: (TypeState | undefined)[];
  private scheduled = false;
  private closed = false;
  private readonly log: Logger;
  private readonly replies: ReplyRecorder;
  private readonly unknownLog: LogLimiter;
  /** The response side: nonces, the response in flight, the sent bookkeeping. */
  private readonly out: ResponseWriter;

  constructor(private readonly o: StreamOptions) {
    this.id = o.id;
    this.ordered = o.typeOrder.map(() => undefined);
    this.out = new ResponseWriter({
      id: o.id,
      cache: o.cache,
      sink: o.sink,
      clock: o.clock,
      metrics: o.metrics,
      onWritten: this.afterWrite,
    });
    this.connectedAt = o.clock.now();
    this.log = o.logger.child({ streamId: o.id });
    const now = (): number => o.clock.monotonic();
    this.replies = new ReplyRecorder({
      log: this.log,
      clock: o.clock,
      metrics: o.metrics,
      nackLogsPerSecond: o.repeatLogsPerSecond ?? 5,
      onAck: (typeUrl, latency, originAt) => o.onAck?.(this, typeUrl, latency, originAt),
      isNonce: (text, n) => this.out.isNonce(text, n),
    });
    this.unknownLog = new LogLimiter(o.repeatLogsPerSecond ?? 5, now);
  }

  /** Whether a request named a type yet (the fan-out skips a stream that has none). */
  get subscribed(): boolean {
    return this.types.size > 0;
  }

  get nodeId(): string {
    return this.node?.id ?? '';
  }

  get identity(): unknown {
    return this.o.identity;
  }

  /**
   * Handles one decoded request (already authenticated at stream level). `lease` holds the request's
   * bytes: what is kept that reads them (initial_resource_versions, until the first response) shares it.
   */
  onRequest(req: DeltaRequest, lease?: MessageLease): void {
    if (this.closed) return;
    if (!req.typeUrl) {
      // Rule 3: on ADS a request without type_url is an error.
      this.fail(GrpcCode.INVALID_ARGUMENT, 'type_url is required');
      return;
    }
    if (req.node && !this.node) {
      const reason = this.o.checkNode?.(req.node);
      if (reason) {
        this.log.warn({ nodeId: req.node.id, reason }, 'xDS node refused');
        this.fail(GrpcCode.PERMISSION_DENIED, 'permission denied');
        return;
      }
      this.node = req.node; // rule 2 (docs/design/delta-xds-rules.md): only the first request surely has it
    }
    let st = this.types.get(req.typeUrl);
    // A type this stream already watches is one of typeOrder (checked when it was added).
    const known = st !== undefined || this.o.typeOrder.includes(req.typeUrl);
    const label = known ? (st?.label ?? shortType(req.typeUrl)) : 'unknown';
    if (!known) {
      // Logged (rate-limited) and answered empty so a client waiting on its first response is not stuck.
      this.o.metrics.unknownTypes.inc();
      const line = this.unknownLog.take();
      if (line) this.log.warn({ typeUrl: req.typeUrl.slice(0, 200), ...line }, 'request for unknown type URL');
      else this.o.metrics.logSuppressed.inc({ kind: 'unknown_type' });
      if (!req.responseNonce) this.out.sendUnknown(req.typeUrl);
      return;
    }
    if (this.o.authorizeType && !this.o.authorizeType(req.typeUrl, this.node)) {
      this.log.warn({ typeUrl: req.typeUrl }, 'caller not allowed to watch this type');
      this.fail(GrpcCode.PERMISSION_DENIED, 'permission denied');
      return;
    }
    const first = !st;
    if (!st) {
      st = newTypeState(req.typeUrl, label, this.o.metrics.pushes.labels({ type: label }));
      this.types.set(req.typeUrl, st);
      this.ordered[this.o.typeOrder.indexOf(req.typeUrl)] = st;
    }
    if (req.responseNonce) this.replies.record(st, req, label);
    // Rule 23: initial_resource_versions only counts on the first request of a type;
    // later requests owe answers for what they add (force) and unsubscribe under wildcard.
    const added = st.sub.apply(req.subscribe, req.unsubscribe, first ? null : st);
    if (first && req.initialResourceVersions.size > 0) {
      st.initial = req.initialResourceVersions;
      if (lease && st.initial.raw) st.initialLease = lease.share();
      if (!st.sub.wildcard) st.sub.adoptInitialVersions(st.initial.keys());
    }
    // Bounded per stream: one request can add at most what fits in one message (xds.maxReceiveBytes).
    // Names owed an answer are bounded too: a client that re-subscribes the same names
    // without reading its responses would otherwise grow them without growing the set.
    const names = Math.max(subscribedNames(this.types.values()), st.force.size);
    const cap = this.o.maxNames ?? 1_000_000;
    if (names > cap) {
      this.o.metrics.pendingResets.inc({ reason: 'too_many_names' });
      this.log.warn({ names, cap }, 'xDS stream subscribed too many resource names; ending it');
      this.fail(GrpcCode.RESOURCE_EXHAUSTED, `too many subscribed resource names (${names} > ${cap})`);
      return;
    }
    // A spontaneous subscription request always gets an answer (on-demand wake-up).
    if (!first && added > 0) st.mustRespond = true;
    if (!st.sub.wildcard && st.held === null) st.held = new Set();
    // A plain ACK of a caught-up stream owes nothing: skip the flush turn.
    // While a write is outstanding its callback flushes.
    if (!this.out.inFlight && owesResponse(this.types.values(), this.o.cache.seq)) this.schedule();
  }

  /** Called by the server when the cache committed new changes. */
  onCommit(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Sends at most one response per type, in push order, while the transport has room. */
  flush(): void {
    if (this.closed || this.out.inFlight) return;
    const seq = this.o.cache.seq;
    // By index: no iterator and no map lookup per type (a flush per commit per stream).
    const ordered = this.ordered;
    for (let i = 0; i < ordered.length; i++) {
      const st = ordered[i];
      if (!st) continue;
      const typeUrl = st.typeUrl;
      if (st.cursor?.expired) {
        this.o.metrics.pendingResets.inc({ reason: 'fell_behind' });
        this.fail(GrpcCode.UNAVAILABLE, 'client fell too far behind; reconnect to resync');
        return;
      }
      const quiet = st.force.size === 0 && st.unsubNotify.size === 0 && !st.mustRespond;
      // Nothing committed since this type's last response and nothing owed: the common case for ACKs.
      if (quiet && st.cursor !== null && st.cursor.seq === seq) continue;
      if (quiet && st.cursor !== null && st.held === null && st.sub.wildcard) {
        // Caught up to the commit before the last, which made one change: that change is the response, straight
        // from the commit (before the fan-out memo: one stream's head plus the one frame, and no body to build).
        const one = this.o.cache.soleChange(typeUrl, st.cursor.seq);
        if (one !== undefined) {
          st.cursor.seq = seq;
          if (one === null) continue;
          this.out.sendOne(st, one);
          if (this.out.inFlight) return;
          continue;
        }
      }
      if (quiet && st.cursor !== null && st.held === null && st.sub.wildcard && this.o.shared) {
        const r = this.o.shared.get(typeUrl, st.cursor.seq);
        if (!r) {
          this.fail(GrpcCode.UNAVAILABLE, 'client fell too far behind; reconnect to resync');
          return;
        }
        st.cursor.seq = seq;
        if (r.empty) continue;
        this.out.sendShared(st, r);
        if (this.out.inFlight) return;
        continue;
      }
      const out = nextResponse(this.o.cache, st);
      if (st.initial === null) releaseInitial(st);
      if (!out) {
        this.fail(GrpcCode.UNAVAILABLE, 'client fell too far behind; reconnect to resync');
        return;
      }
      if (out.frames.length === 0 && out.removed.length === 0 && !st.mustRespond) continue;
      st.mustRespond = false;
      const since = out.since;
      const cache = this.o.cache;
      this.out.send(
        st,
        out.frames,
        out.removed,
        since >= 0 ? cache.oldestCommitAfter(since)?.at : undefined,
        since >= 0 ? cache.earliestOriginAfter(since) : undefined,
      );
      if (this.out.inFlight) return; // one response in flight at a time: backpressure
    }
  }

  /** The sink took the response in flight: owed names go out a slice per response and a response per turn. */
  private readonly afterWrite = (): void => {
    if (this.closed) return;
    if (owesSlices(this.types.values())) this.schedule();
    else this.flush();
  };

  private fail(code: number, details: string): void {
    if (this.closed) return;
    this.o.sink.close(code, details);
    this.dispose();
  }

  /** Transport went away (client closed, error, or server shutdown). */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const st of this.types.values()) {
      if (st.cursor) this.o.cache.closeCursor(st.cursor);
      st.initial = null;
      releaseInitial(st);
    }
    this.o.onClose?.(this);
  }

  /** Ends the stream cleanly (server drain): clients reconnect elsewhere. */
  end(code: number = GrpcCode.UNAVAILABLE, details = 'server shutting down'): void {
    this.fail(code, details);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True when every type's latest response has been ACKed. */
  get inSync(): boolean {
    for (const st of this.types.values()) if (st.nonceSent !== 0 && st.nonceSent !== st.nonceAcked) return false;
    return true;
  }

  status(): StreamStatus {
    return buildStreamStatus({
      id: this.id,
      nodeId: this.nodeId,
      node: this.node,
      identity: this.o.identity,
      connectedAt: this.connectedAt,
      pendingWrite: this.out.inFlight,
      cacheSeq: this.o.cache.seq,
      types: this.types.values(),
      wallOffset: this.o.clock.now() - this.o.clock.monotonic(),
      nonceText: (n) => this.out.nonceText(n),
    });
  }
}

/** initial_resource_versions was consumed (or dropped): the request bytes it read may be reused. */
function releaseInitial(st: TypeState): void {
  st.initialLease?.release();
  st.initialLease = undefined;
}
