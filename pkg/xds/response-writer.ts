import { encodeDeltaResponse, nonceField, ResponseHeads, type FramePart } from '../wire';
import { SMALL_MESSAGE } from '../transport';
import type { Clock } from '../lifecycle';
import type { CacheEntry, ResourceCache } from './cache';
import type { TypeState } from './diff';
import type { XdsMetrics } from './metrics';
import { sharedFrame, type SharedResponse } from './fanout';

/** Where a stream's responses go; the gRPC adapter implements it. */
export interface StreamSink {
  /**
   * Writes one encoded response (whole, or as parts to send back to back); `done` fires when the transport has taken
   * it.
   */
  write(buf: Buffer | readonly FramePart[], done: () => void): void;
  /** Ends the stream with a gRPC status. */
  close(code: number, details: string): void;
  /**
   * Optional: writes one whole response built with `headroom` bytes reserved in front of it for the transport's
   * framing (filled there, no copy); the buffer is the sink's from then on. Fan-out responses use it.
   */
  writeFramed?(frame: Buffer, done: () => void): void;
  /** Bytes writeFramed needs in front of a message. */
  readonly headroom?: number;
}

export interface ResponseWriterOptions {
  /** The stream's id: nonces are `<id>-<n>` (rule 16: unique per stream). */
  id: string;
  /** Read for the response's system_version_info (seq) and a one-change commit's timing (soleMeta). */
  cache: ResourceCache;
  sink: StreamSink;
  clock: Clock;
  metrics: XdsMetrics;
  /** The sink took the response in flight; called after `inFlight` is cleared and its send time observed. */
  onWritten: () => void;
}

/**
 * Resource bytes up to which a response is built as one buffer for StreamSink.writeFramed; larger ones go as parts
 * (a full sync is chunked by the transport, never one large buffer). The transport copies messages up to this size
 * into one buffer itself, so this moves that copy here: the same threshold.
 */
const FRAMED_MAX_BYTES = SMALL_MESSAGE;

/** No removed names (sendOne's entry response): one shared empty list. */
const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * One stream's response side: encodes each response with the stream's nonce, hands it to the sink and keeps the
 * per-type sent bookkeeping. At most one response is in flight; the stream asks `inFlight` before sending.
 */
export class ResponseWriter {
  private nonceCounter = 0;
  private pending = false;
  /** Response heads with this stream's nonce prefix (rule 16: `<id>-<n>`, unique per stream). */
  private readonly heads: ResponseHeads;
  /** When the response in flight was handed to the sink (monotonic ms), for the send-time histogram. */
  private writeStarted = 0;

  constructor(private readonly o: ResponseWriterOptions) {
    this.heads = new ResponseHeads(`${o.id}-`);
  }

  /** Whether `text` is the nonce of this stream's response number n (false for 0): how ACKs are matched. */
  isNonce(text: string, n: number): boolean {
    return this.heads.isNonce(text, n);
  }

  /** The nonce of this stream's response number n as sent; '' for 0 (none). */
  nonceText(n: number): string {
    return n === 0 ? '' : this.heads.nonce(n);
  }

  /** A response was handed to the sink and the sink has not called back yet. */
  get inFlight(): boolean {
    return this.pending;
  }

  /**
   * The response for the last commit's one change (ResourceCache.soleChange): the bytes send() writes for the same
   * entry or removal, without the lists; its timing is that commit's (oldestCommitAfter(seq - 1) is that commit).
   */
  sendOne(st: TypeState, one: CacheEntry | string): void {
    const meta = this.o.cache.soleMeta;
    // A removal has no frame to place.
    if (typeof one === 'string') this.send(st, [], [one], meta?.at, meta?.originAt);
    else this.place(st, NO_NAMES, one, one.length, meta?.at, meta?.originAt);
  }

  send(
    st: TypeState,
    frames: readonly FramePart[],
    removed: readonly string[],
    commitAt: number | undefined,
    originAt: number | undefined,
  ): void {
    let bytes = 0;
    for (let i = 0; i < frames.length; i++) bytes += frames[i]!.length;
    this.place(st, removed, frames, bytes, commitAt, originAt);
  }

  /**
   * A fan-out response: the shared body plus this stream's nonce. A joined body goes out as one buffer built with
   * the transport's prefix room (one allocation and one copy per stream, no parts list); a body kept as parts (a
   * large catch-up) as those parts and the nonce field.
   */
  sendShared(st: TypeState, r: SharedResponse): void {
    const nonceNo = ++this.nonceCounter; // rule 16: unique per stream
    const nonce = this.heads.nonce(nonceNo);
    const sink = this.o.sink;
    const body = r.body;
    if (body.length === 1 && sink.writeFramed && Buffer.isBuffer(body[0])) {
      this.record(st, nonceNo, r.commitAt, r.originAt);
      sink.writeFramed(sharedFrame(body[0], nonce, sink.headroom ?? 0), this.written);
      return;
    }
    this.write(st, nonceNo, [...body, nonceField(nonce)], r.commitAt, r.originAt);
  }

  /** An empty answer to a request for a type this server does not serve. */
  sendUnknown(typeUrl: string): void {
    const nonce = this.heads.nonce(++this.nonceCounter); // rule 16: unique per stream
    const buf = encodeDeltaResponse({ typeUrl, nonce, frames: [], removed: [] });
    // Bounded: answered only for spontaneous requests; written even while another is in flight.
    this.o.sink.write(buf, () => undefined);
  }

  /**
   * Writes this stream's head (its constant fields encoded once per stream and type: ResponseHead) and the frames,
   * `bytes` in all: one frame (sendOne) or a list (send), a union so that no array is made for one frame.
   */
  private place(
    st: TypeState,
    removed: readonly string[],
    frames: FramePart | readonly FramePart[],
    bytes: number,
    commitAt: number | undefined,
    originAt: number | undefined,
  ): void {
    const nonceNo = ++this.nonceCounter; // rule 16: unique per stream
    const head = st.head ?? (st.head = this.heads.forType(st.typeUrl));
    const sink = this.o.sink;
    if (sink.writeFramed && bytes <= FRAMED_MAX_BYTES) {
      // A small response is built whole behind the transport's prefix room: one allocation, the frames copied once
      // (the transport would copy a small message into one buffer anyway), no head Buffer and no parts list.
      const lead = sink.headroom ?? 0;
      const b = head.encode(this.o.cache.seq, nonceNo, removed, bytes, lead);
      let at = b.length - bytes;
      if (!isList(frames)) frames.copy(b, at);
      else for (let i = 0; i < frames.length; i++) at += frames[i]!.copy(b, at);
      this.record(st, nonceNo, commitAt, originAt);
      sink.writeFramed(b, this.written);
      return;
    }
    // Otherwise the head goes as its own buffer, the frames after it uncopied.
    const h = head.encode(this.o.cache.seq, nonceNo, removed);
    const parts = !isList(frames) ? [h, frames] : frames.length === 0 ? h : [h, ...frames];
    this.write(st, nonceNo, parts, commitAt, originAt);
  }

  private write(
    st: TypeState,
    nonceNo: number,
    buf: Buffer | readonly FramePart[],
    commitAt: number | undefined,
    originAt: number | undefined,
  ): void {
    this.record(st, nonceNo, commitAt, originAt);
    this.o.sink.write(buf, this.written);
  }

  /** Bookkeeping for the response about to be handed to the sink; from here one response is in flight. */
  private record(st: TypeState, nonceNo: number, commitAt: number | undefined, originAt: number | undefined): void {
    // One clock read per response: the send-time metric's start and the status view's last-sent time (kept
    // monotonic; stream-status converts it to wall time when read).
    const now = this.o.clock.monotonic();
    this.writeStarted = now;
    st.nonceSent = nonceNo;
    st.sentMono = now;
    st.responses++;
    st.sentCommitAt = commitAt;
    st.sentOriginAt = originAt;
    st.sentSeq = st.cursor?.seq ?? 0;
    st.pushes.inc();
    this.pending = true;
  }

  /** The sink took the response in flight (one closure per stream, not per write). */
  private readonly written = (): void => {
    this.pending = false;
    this.o.metrics.sendTime.observe((this.o.clock.monotonic() - this.writeStarted) / 1000);
    this.o.onWritten();
  };
}

/** One frame or a list of them (Array.isArray does not narrow a readonly array's union). */
function isList(frames: FramePart | readonly FramePart[]): frames is readonly FramePart[] {
  return Array.isArray(frames);
}
