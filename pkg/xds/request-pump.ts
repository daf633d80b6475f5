import { InitialVersions, type DeltaRequest, type ScannedRequest } from '../wire';

/** Reading control of one call: pausing stops consuming its data, so HTTP/2 flow control holds the sender. */
export interface ReadControl {
  pauseReading(): void;
  resumeReading(): void;
}

export interface RequestPumpOptions {
  /** Validates one message, names left as bytes; undefined = refused (the caller ended the stream). */
  decode: (msg: Buffer) => ScannedRequest | undefined;
  /** Applies one request (or one slice of a large one) to the stream. */
  apply: (req: DeltaRequest) => void;
  /** May requests of this type be sliced? (Not an unknown type: each slice would be answered.) */
  sliceable: (typeUrl: string) => boolean;
  /** Has the stream ended? Queued work is dropped then. */
  closed: () => boolean;
  read: ReadControl;
  /** Resource names (subscribe + unsubscribe) applied per event-loop turn (default 2048). */
  namesPerTurn?: number;
  /** Requests applied per event-loop turn (default 64). */
  requestsPerTurn?: number;
  /** Called when the queue drains after the client half-closed (see end()). */
  onDrained?: () => void;
}

const NO_VERSIONS = InitialVersions.fromMap(new Map());

/**
 * Bounds the work one xDS stream makes the server do per event-loop turn.
 * Requests are applied in arrival order; once a turn's budget (names or
 * requests) is spent, the rest waits for a later turn and the call's reading
 * is paused: HTTP/2 flow control then holds the client back, so what waits
 * here is at most what had already arrived (one read of the socket). Other
 * streams' pushes, ACKs and reconnects run in the turns between.
 *
 * A request with more names than a turn allows is applied in slices, each a
 * valid request on its own: the first carries everything but the names past
 * the budget (node, nonce, NACK detail, initial_resource_versions); the others
 * carry only type_url and names, subscribe slices before unsubscribe slices
 * (the order a single request is applied in, rule 7). Applying the slices in
 * order leaves the same subscription as the whole request; each added name is
 * still answered (rule 9), possibly over several responses.
 */
export class RequestPump {
  private readonly queue: Buffer[] = [];
  /** The request being applied in slices, and how far. */
  private big: ScannedRequest | null = null;
  private subAt = 0;
  private unsubAt = 0;
  private names = 0;
  private requests = 0;
  private refill = false;
  private paused = false;
  private ending = false;
  private readonly namesPerTurn: number;
  private readonly requestsPerTurn: number;

  constructor(private readonly o: RequestPumpOptions) {
    this.namesPerTurn = Math.max(1, o.namesPerTurn ?? 2048);
    this.requestsPerTurn = Math.max(1, o.requestsPerTurn ?? 64);
  }

  /** One message from the client. Applied now if this turn's budget allows. */
  push(msg: Buffer): void {
    this.queue.push(msg);
    if (this.queue.length === 1 && this.big === null) this.drain();
  }

  /** The client half-closed: onDrained fires once what it sent has been applied. */
  end(): void {
    this.ending = true;
    if (this.idle) this.o.onDrained?.();
  }

  /** Nothing waits. */
  get idle(): boolean {
    return this.big === null && this.queue.length === 0;
  }

  /** Messages waiting (bounded by one socket read: reading is paused while any wait). */
  get queued(): number {
    return this.queue.length;
  }

  private drain(): void {
    while (!this.idle) {
      if (this.o.closed()) {
        this.queue.length = 0;
        this.big = null;
        break;
      }
      if (this.names >= this.namesPerTurn || this.requests >= this.requestsPerTurn) {
        this.pause();
        this.startTurn();
        return;
      }
      this.startTurn();
      if (this.big) {
        this.o.apply(this.nextSlice(this.big));
        continue;
      }
      const req = this.o.decode(this.queue.shift()!);
      if (!req) continue;
      this.requests++;
      const count = req.subscribe.length + req.unsubscribe.length;
      if (count + this.names <= this.namesPerTurn || !this.o.sliceable(req.request.typeUrl)) {
        // initial_resource_versions is applied whole (once per type, rule 23) and counts against the turn.
        this.names += count + req.request.initialResourceVersions.size;
        const whole = req.request;
        whole.subscribe = req.subscribe.strings(0, req.subscribe.length);
        whole.unsubscribe = req.unsubscribe.strings(0, req.unsubscribe.length);
        this.o.apply(whole);
        continue;
      }
      this.big = req;
      this.subAt = 0;
      this.unsubAt = 0;
      this.o.apply(this.nextSlice(req));
    }
    if (this.paused) {
      this.paused = false;
      this.o.read.resumeReading();
    }
    if (this.ending) this.o.onDrained?.();
  }

  /** The budget is per turn: the first work of a turn arranges its refill on the next. */
  private startTurn(): void {
    if (this.refill) return;
    this.refill = true;
    setImmediate(() => {
      this.refill = false;
      this.names = 0;
      this.requests = 0;
      if (this.queue.length > 0 || this.big !== null) this.drain();
    });
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.o.read.pauseReading();
  }

  /** The next slice of `req` that fits this turn's remaining budget (at least one name); its strings are made now. */
  private nextSlice(req: ScannedRequest): DeltaRequest {
    const room = Math.max(1, this.namesPerTurn - this.names);
    const first = this.subAt === 0 && this.unsubAt === 0;
    const sub = req.subscribe.strings(this.subAt, this.subAt + room);
    this.subAt += sub.length;
    const unsub = req.unsubscribe.strings(this.unsubAt, this.unsubAt + room - sub.length);
    this.unsubAt += unsub.length;
    this.names += sub.length + unsub.length;
    if (this.subAt >= req.subscribe.length && this.unsubAt >= req.unsubscribe.length) this.big = null;
    const typeUrl = req.request.typeUrl;
    if (first) return { ...req.request, subscribe: sub, unsubscribe: unsub };
    return { typeUrl, subscribe: sub, unsubscribe: unsub, initialResourceVersions: NO_VERSIONS, responseNonce: '' };
  }
}
