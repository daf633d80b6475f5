import { EventEmitter } from 'node:events';
import * as http2 from 'node:http2';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ReceiveBudget } from './receive-budget';
import type { ChunkPool } from './chunk-pool';
import { UNPOOLED, type MessageLease, type ReceivePool } from './receive-pool';
import type { RefusalReason, RefusalSink } from './limits';
import type { FramePart } from '../wire';
import { MessageReader } from './message-reader';
import { MessageWriter } from './message-writer';

/**
 * gRPC calls over one node:http2 stream (gRPC over HTTP/2, grpc/grpc doc/PROTOCOL-HTTP2.md):
 * requests are Length-Prefixed-Messages (1 byte compressed flag, 4 bytes
 * big-endian length, message); the response is HEADERS, messages, then
 * trailers carrying grpc-status / grpc-message (or "trailers-only": one HEADERS
 * frame with the status when nothing was sent).
 */

/** Headers grpc-js strips from server-side metadata; we do the same so handlers see the same metadata. */
const NOT_METADATA = ['content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding'];

export function metadataFromHeaders(headers: http2.IncomingHttpHeaders): grpc.Metadata {
  const md = grpc.Metadata.fromHttp2Headers(headers);
  for (const k of NOT_METADATA) md.remove(k);
  return md;
}

/** grpc-message is percent-encoded (bytes outside printable ASCII, and '%'). */
function encodeGrpcMessage(s: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
}

export interface CallEnv {
  stream: http2.ServerHttp2Stream;
  headers: http2.IncomingHttpHeaders;
  maxReceiveBytes: number;
  /** Server-wide cap on bytes of large messages being received (absent = unmetered). */
  budget?: ReceiveBudget;
  /** Server-wide reusable chunks for joining many parts. */
  chunks: ChunkPool;
  /** Server-wide reusable buffers for request messages that span chunks (absent = fresh buffers). */
  receivePool?: ReceivePool;
  /** The first request message must arrive within this long (ms; absent = no deadline). */
  firstMessageTimeoutMs?: number;
  /** A budget reservation expires unless its message arrives within this long (ms; absent = never). */
  receiveHoldTimeoutMs?: number;
  /** Told when this call is closed by a deadline. */
  refused?: RefusalSink;
  /**
   * This call is authenticated and holds a receive-budget reservation: the server widens the session's receive
   * window (TransportLimits.authenticatedWindowBytes).
   */
  widenWindow?: () => void;
}

/** What handlers may ask about the caller (the grpc-js surface our services use). */
export interface CallIdentity {
  readonly metadata: grpc.Metadata;
  /** "ip:port" ("[ip]:port" for IPv6), as grpc-js reports it. */
  getPeer(): string;
  /**
   * The client certificate only when it verified against the trust bundle
   * (socket.authorized), like grpc-js — but with its issuer chain
   * (getPeerCertificate(true)), which grpc-js leaves out.
   */
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: DetailedPeerCertificate };
}

/**
 * One call's framing and status. Subclasses decide what a message means.
 * Single writer: everything runs on the event loop in order of stream events.
 */
export abstract class BaseCall extends EventEmitter implements CallIdentity {
  readonly metadata: grpc.Metadata;
  protected readonly stream: http2.ServerHttp2Stream;
  private headersSent = false;
  private finished = false;
  private readonly reader: MessageReader;
  /** Budget held for the large message being received, and the grant we wait for while paused. */
  private reserved = 0;
  private readonly writer: MessageWriter;
  private waitingGrant: (() => void) | null = null;
  /** Length (prefix included) of the large message being collected that has not yet asked the budget. */
  private unmetered = 0;
  /** The first-message deadline, then (while a reservation is held) the hold deadline. */
  private deadline: NodeJS.Timeout | undefined;
  private gotFirst = false;
  private clientEnded = false;
  /** The handler paused reading: the budget's grant must not resume. */
  private handlerPaused = false;
  /** The handler verified this call's credentials (authenticated()). */
  private authed = false;

  constructor(protected readonly env: CallEnv) {
    super();
    this.stream = env.stream;
    this.metadata = metadataFromHeaders(env.headers);
    this.writer = new MessageWriter({ stream: env.stream, pool: env.chunks, stopped: () => this.finished });
    this.reader = new MessageReader(
      {
        check: (compressed, len) => this.checkPrefix(compressed, len),
        // A call finished mid-chunk (a handler ended it) reads no further messages.
        message: (msg, lease = UNPOOLED) => {
          if (!this.gotFirst) {
            this.gotFirst = true;
            this.clearDeadline();
          }
          if (!this.finished) this.onMessage(msg, lease);
          else lease.release();
        },
        collecting: (total) => {
          const budget = this.env.budget;
          if (budget && total > budget.threshold) this.unmetered = total;
        },
        progress: (have) => this.earn(have),
        joined: () => this.releaseBudget(),
        // Only a message the budget has granted fills a pooled buffer before it is complete: the buffer is
        // then bytes the budget reserved. A smaller one (under the threshold) is joined when complete, so a
        // caller that declares a length and sends little holds no more than it sent.
        mayFill: () => this.reserved > 0,
      },
      env.receivePool,
    );
    const first = env.firstMessageTimeoutMs;
    if (first) this.arm(first, 'first_message_timeout', 'no request message in time');
    this.stream.on('data', (chunk: Buffer) => this.reader.push(chunk));
    this.stream.on('end', () => {
      this.clientEnded = true;
      this.onClientEnd();
    });
    this.stream.on('error', () => undefined); // 'close' follows; a reset stream is not a server error
    this.stream.on('close', () => {
      this.clearDeadline();
      this.releaseBudget();
      if (!this.finished) {
        this.finished = true;
        this.emit('cancelled');
      }
      this.emit('close');
    });
  }

  getPeer(): string {
    const s = this.stream.session?.socket;
    const ip = s?.remoteAddress ?? 'unknown';
    return ip.includes(':') ? `[${ip}]:${s?.remotePort}` : `${ip}:${s?.remotePort}`;
  }

  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: DetailedPeerCertificate } {
    const socket = this.stream.session?.socket as TLSSocket | undefined;
    if (!socket || !socket.authorized) return {};
    const cert = socket.getPeerCertificate(true);
    return { transportSecurityType: 'ssl', sslPeerCertificate: cert.raw ? cert : undefined };
  }

  /**
   * The handler verified this call's credentials: once the call also holds a receive-budget reservation (a large
   * message being received, bytes the budget has room for), its connection gets the larger receive window
   * (TransportLimits.authenticatedWindowBytes). Not before: a call waiting for room holds whatever its client had
   * in flight when it paused, and in a storm of 1,000 reconnects those chunks, held for seconds, outlive the
   * young generation; V8 then runs a full Mark-Compact per 64 MB of them ("external memory pressure"),
   * docs/design/reconnect-storm-cpu.md, session 15.
   */
  authenticated(): void {
    this.authed = true;
    this.widenIfDue();
  }

  /** The window rule (authenticated(), above), checked when either of its two conditions becomes true. */
  private widenIfDue(): void {
    if (this.authed && this.reserved > 0) this.env.widenWindow?.();
  }

  /** Stops consuming this call's data (HTTP/2 flow control holds the sender); a chunk already read is delivered. */
  pauseReading(): void {
    this.handlerPaused = true;
    if (!this.stream.destroyed) this.stream.pause();
  }

  /** Undoes pauseReading() (a call waiting for receive budget stays paused until granted). */
  resumeReading(): void {
    this.handlerPaused = false;
    if (!this.stream.destroyed && !this.waitingGrant) this.stream.resume();
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** One request message; `lease` is released once nothing reads its bytes any more (receive-pool.ts). */
  protected abstract onMessage(msg: Buffer, lease: MessageLease): void;
  protected abstract onClientEnd(): void;

  /**
   * The receive limit and identity encoding, checked on each message's prefix.
   * A refused message ends the call; the rest of the request is read and
   * dropped (flow control keeps moving).
   */
  private checkPrefix(compressed: boolean, len: number): boolean {
    if (len > this.env.maxReceiveBytes) {
      // grpc-js's wording.
      this.finish(
        grpc.status.RESOURCE_EXHAUSTED,
        `Received message larger than max (${len} vs. ${this.env.maxReceiveBytes})`,
      );
      return false;
    }
    if (compressed) {
      this.finish(grpc.status.INTERNAL, 'compressed messages are not supported (grpc-encoding identity only)');
      return false;
    }
    return true;
  }

  /**
   * A large message asks the budget for its whole length only once the
   * caller has actually sent `threshold` bytes of it (what any message below
   * the threshold may hold unmetered anyway): a caller that declares 4 MiB
   * and sends 1 KiB reserves nothing. Until then the first-message deadline
   * runs; while queued for room no deadline runs (the wait is ours, not the
   * caller's); once granted, the reservation expires unless the message
   * completes within receiveHoldTimeoutMs.
   */
  private earn(have: number): void {
    const budget = this.env.budget;
    if (!budget || this.unmetered === 0 || have < budget.threshold) return;
    const bytes = this.unmetered;
    this.unmetered = 0;
    this.admit(budget, bytes);
  }

  /** Reserves room for a large message, or pauses the stream (flow control) until it is granted. */
  private admit(budget: ReceiveBudget, bytes: number): void {
    const hold = (): void => {
      this.reserved = bytes;
      this.widenIfDue();
      const holdMs = this.env.receiveHoldTimeoutMs;
      if (holdMs) this.arm(holdMs, 'receive_stalled', 'request message not received in time');
    };
    const grant = (): void => {
      this.waitingGrant = null;
      hold();
      if (!this.stream.destroyed && !this.handlerPaused) this.stream.resume();
    };
    if (budget.reserve(bytes, grant)) {
      hold();
      return;
    }
    this.clearDeadline();
    this.waitingGrant = grant;
    this.stream.pause();
  }

  private arm(ms: number, reason: RefusalReason, details: string): void {
    this.clearDeadline();
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.env.refused?.(reason);
      this.reader.stop();
      this.releaseBudget();
      this.finish(grpc.status.DEADLINE_EXCEEDED, details);
      this.reset();
    }, ms);
    this.deadline.unref();
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  /** RST_STREAM: the stream stops counting against the connection's stream cap at once. */
  private reset(): void {
    setImmediate(() => {
      try {
        if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      } catch {
        /* session torn down under us */
      }
    });
  }

  private releaseBudget(): void {
    this.unmetered = 0;
    if (this.reserved > 0 && this.gotFirst) this.clearDeadline();
    const budget = this.env.budget;
    if (!budget) return;
    if (this.waitingGrant) {
      budget.cancel(this.waitingGrant);
      this.waitingGrant = null;
    }
    if (this.reserved > 0) {
      const n = this.reserved;
      this.reserved = 0;
      budget.release(n);
    }
  }

  private ensureHeaders(): boolean {
    if (this.headersSent) return true;
    if (this.stream.destroyed || this.stream.closed) return false;
    this.headersSent = true;
    try {
      this.stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' },
        { waitForTrailers: true },
      );
    } catch {
      return false; // session torn down under us; 'close' follows
    }
    return true;
  }

  /** Writes one response message after the response headers (MessageWriter: parts, chunks, order); `cb` on take-up. */
  write(msg: Buffer | readonly FramePart[], cb?: () => void): void {
    if (this.finished || !this.ensureHeaders()) {
      cb?.();
      return;
    }
    this.writer.write(msg, cb);
  }

  /** Writes one message built behind GRPC_PREFIX_BYTES of room (MessageWriter.writeFramed); `cb` on take-up. */
  writeFramed(frame: Buffer, cb?: () => void): void {
    if (this.finished || !this.ensureHeaders()) {
      cb?.();
      return;
    }
    this.writer.writeFramed(frame, cb);
  }

  /** Ends the call with a status (OK = clean end). Idempotent. */
  finish(code: number, details: string): void {
    if (this.finished) return;
    this.finished = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const trailers = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) };
    if (!this.headersSent) {
      // Trailers-only response.
      this.headersSent = true;
      try {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true });
      } catch {
        /* session torn down under us */
      }
      this.resetIfOpen();
      return;
    }
    stream.once('wantTrailers', () => {
      try {
        stream.sendTrailers(trailers);
      } catch {
        /* stream already gone */
      }
      this.resetIfOpen();
    });
    stream.end();
  }

  /**
   * After the status, a caller that has not half-closed gets RST_STREAM(NO_ERROR)
   * (RFC 9113 §8.1, as grpc-go does): a refused or finished call never keeps
   * its stream, and its slot under the connection's stream cap, open.
   */
  private resetIfOpen(): void {
    if (!this.clientEnded) this.reset();
  }
}

/**
 * A bidirectional-streaming call: 'data' (one request message, raw bytes, and the MessageLease the
 * listener releases when done with them; a listener that ignores it only costs a GC),
 * 'end' (client half-closed), 'cancelled' (gone before a status was sent),
 * 'close' (stream closed). The handler writes messages and finishes with a status.
 */
export class BidiCall extends BaseCall {
  protected onMessage(msg: Buffer, lease: MessageLease): void {
    if (!this.emit('data', msg, lease)) lease.release();
  }

  protected onClientEnd(): void {
    this.emit('end');
  }
}
