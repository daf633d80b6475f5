import { InitialVersions, type DeltaRequest, type ScannedRequest } from '../wire';
import { UNPOOLED, type MessageLease } from '../transport';

/** Reading control of one call: pausing stops consuming its data, so HTTP/2 flow control holds the sender. */
export interface ReadControl {
  pauseReading(): void;
  resumeReading(): void;
}

/** What one stream's requests may cost: per event-loop turn, and sustained (config: xds.stream*). */
export interface PumpLimits {
  /** Resource names (subscribe + unsubscribe) applied per event-loop turn (default 512). */
  namesPerTurn?: number;
  /** Requests applied per event-loop turn (default 64). */
  requestsPerTurn?: number;
  /**
   * Request bytes applied per event-loop turn (default 64 KiB; a larger message is still applied, and
   * then nothing more that turn). Receiving costs per byte (TLS, HTTP/2, framing), so a flood of large
   * NACKs is bounded by bytes, not by requests.
   */
  bytesPerTurn?: number;
  /**
   * Sustained rates per stream (token buckets; the burst is one second's worth). Per-turn budgets
   * keep other streams' work interleaved; rates keep one stream from keeping the process busy, which
   * on a shared machine makes every turn, everyone's, wait longer for a CPU. Defaults: 65,536 names/s
   * (a ztunnel asks for a few on demand; its reconnect's initial_resource_versions do not count) and
   * 8 MiB/s (twice the largest message, so a reconnect of any allowed size goes through at once).
   */
  namesPerSecond?: number;
  bytesPerSecond?: number;
  /**
   * Milliseconds of event-loop time per second this stream's requests may take to apply (decode, strings, apply;
   * measured with `now`), default 50: whatever a request's shape, one stream gets at most ~5 % of the loop for it
   * (its answers and their garbage come on top, about as much again). Measured in wall time, so on a machine
   * short of CPU the same work costs more of the budget and the stream slows down with it.
   */
  workMsPerSecond?: number;
}

export interface RequestPumpOptions extends PumpLimits {
  /** Validates one message, names left as bytes; undefined = refused (the caller ended the stream). */
  decode: (msg: Buffer) => ScannedRequest | undefined;
  /**
   * Applies one request (or one slice of a large one) to the stream. What it keeps that reads the
   * message's bytes past the call (initial_resource_versions) takes its own hold: `lease.share()`.
   */
  apply: (req: DeltaRequest, lease: MessageLease) => void;
  /** May requests of this type be sliced? (Not an unknown type: each slice would be answered.) */
  sliceable: (typeUrl: string) => boolean;
  /** Has the stream ended? Queued work is dropped then. */
  closed: () => boolean;
  read: ReadControl;
  /** Monotonic milliseconds (the rates' clock). */
  now: () => number;
  /**
   * Is latency-sensitive work under way (a commit being fanned out to the streams)? Then the slices of a large
   * request wait for a later turn, so a flood's bulk never sits between a change and the streams it goes to.
   * Requests that are not sliced are never held by it.
   */
  defer?: () => boolean;
  /** Longest a large request's slices wait on defer() in a row (ms, default 100): constant churn cannot starve them. */
  maxDeferMs?: number;
  /** Called when the stream starts waiting for a rate (once per episode, not per message): a metric. */
  onThrottle?: (rate: ThrottleRate) => void;
  /** Called when the queue drains after the client half-closed (see end()). */
  onDrained?: () => void;
}

/** Which sustained rate held a stream back (a bounded metric label). */
export type ThrottleRate = 'work' | 'names' | 'bytes';

const NO_VERSIONS = InitialVersions.fromMap(new Map());

/**
 * Bounds the work one xDS stream makes the server do per event-loop turn.
 * Requests are applied in arrival order; once a turn's budget (names,
 * requests or bytes) is spent, the rest waits for a later turn and the call's reading
 * is paused: HTTP/2 flow control then holds the client back, so what waits
 * here is at most what had already arrived (one read of the socket). Other
 * streams' pushes, ACKs and reconnects run in the turns between.
 *
 * A request with more names than a turn allows is applied in slices, each a
 * valid request on its own: the first carries everything but the names past
 * the budget (node, nonce, NACK detail, initial_resource_versions); the others
 * carry only type_url and names, subscribe slices before unsubscribe slices
 * (the order a single request is applied in, docs/design/delta-xds-rules.md rule 7). Applying the slices in
 * order leaves the same subscription as the whole request; each added name is
 * still answered (rule 9), possibly over several responses.
 *
 * Over seconds, three token buckets bound a stream: names, bytes and the
 * event-loop time its requests took to apply (the last holds whatever the
 * shape of the requests). While a commit is fanned out (defer), slices wait:
 * a flood never sits between a change and the streams it goes to.
 */
export class RequestPump {
  private readonly queue: { msg: Buffer; lease: MessageLease }[] = [];
  /** The request being applied in slices, how far, and the hold on its bytes (released after its last slice). */
  private big: ScannedRequest | null = null;
  private bigLease: MessageLease = UNPOOLED;
  private subAt = 0;
  private unsubAt = 0;
  private names = 0;
  private requests = 0;
  private bytes = 0;
  private refill = false;
  private paused = false;
  private ending = false;
  /** Held back by a rate since the last work applied (one report per episode, however often the timer re-arms). */
  private held = false;
  /** When the current run of defer() waits began (undefined: not waiting). */
  private deferredAt: number | undefined;
  private readonly maxDeferMs: number;
  private readonly namesPerTurn: number;
  private readonly requestsPerTurn: number;
  private readonly bytesPerTurn: number;

  private readonly nameRate: TokenBucket;
  private readonly byteRate: TokenBucket;
  private readonly workRate: TokenBucket;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RequestPumpOptions) {
    this.namesPerTurn = Math.max(1, o.namesPerTurn ?? 512);
    this.requestsPerTurn = Math.max(1, o.requestsPerTurn ?? 64);
    this.bytesPerTurn = Math.max(1, o.bytesPerTurn ?? 64 * 1024);
    this.maxDeferMs = o.maxDeferMs ?? 100;
    this.nameRate = new TokenBucket(o.namesPerSecond ?? 65_536, o.now);
    this.byteRate = new TokenBucket(o.bytesPerSecond ?? 8 * 1024 * 1024, o.now);
    this.workRate = new TokenBucket(o.workMsPerSecond ?? 50, o.now);
  }

  /**
   * One message from the client. Applied now if this turn's budget allows. The pump releases `lease`
   * once it has made what it needs of the bytes (strings, the applied request), or drops the message.
   */
  push(msg: Buffer, lease: MessageLease = UNPOOLED): void {
    this.queue.push({ msg, lease });
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
        for (const q of this.queue) q.lease.release();
        this.queue.length = 0;
        this.endBig();
        clearTimeout(this.timer);
        this.timer = undefined;
        break;
      }
      if (this.names >= this.namesPerTurn || this.requests >= this.requestsPerTurn || this.bytes >= this.bytesPerTurn) {
        this.pause();
        this.startTurn();
        return;
      }
      const namesWait = this.nameRate.waitMs();
      const workWait = this.workRate.waitMs();
      const wait = Math.max(namesWait, workWait, this.byteRate.waitMs());
      if (wait > 0) {
        this.pause();
        if (!this.held) this.o.onThrottle?.(workWait >= wait ? 'work' : namesWait >= wait ? 'names' : 'bytes');
        this.held = true;
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.drain();
        }, wait);
        this.timer.unref();
        return;
      }
      if (this.timer) return; // a push while throttled: the timer drains
      this.held = false;
      if (this.big && this.o.defer?.()) {
        const t = this.o.now();
        this.deferredAt ??= t;
        if (t - this.deferredAt < this.maxDeferMs) {
          this.pause();
          this.startTurn(); // its refill drains again next turn
          return;
        }
      }
      this.deferredAt = undefined;
      this.startTurn();
      // Charged by the time it took (decode, strings, apply): what a request costs the loop, whatever its shape.
      const t0 = this.o.now();
      this.step();
      this.workRate.take(this.o.now() - t0);
    }
    if (this.paused) {
      this.paused = false;
      this.o.read.resumeReading();
    }
    if (this.ending) this.o.onDrained?.();
  }

  /** Applies the next request, or the next slice of the large one. */
  private step(): void {
    if (this.big) {
      this.o.apply(this.nextSlice(this.big), UNPOOLED);
      if (this.big === null) this.endBig();
      return;
    }
    const { msg, lease } = this.queue.shift()!;
    this.bytes += msg.length;
    this.byteRate.take(msg.length);
    this.requests++;
    const req = this.o.decode(msg);
    if (!req) return void lease.release();
    const count = req.subscribe.length + req.unsubscribe.length;
    if (count + this.names <= this.namesPerTurn || !this.o.sliceable(req.request.typeUrl)) {
      // initial_resource_versions is applied whole (once per type, rule 23) and counts against the turn.
      this.names += count + req.request.initialResourceVersions.size;
      this.nameRate.take(count);
      const whole = req.request;
      whole.subscribe = req.subscribe.strings(0, req.subscribe.length);
      whole.unsubscribe = req.unsubscribe.strings(0, req.unsubscribe.length);
      this.o.apply(whole, lease);
      lease.release();
      return;
    }
    this.big = req;
    this.bigLease = lease;
    this.subAt = 0;
    this.unsubAt = 0;
    // The first slice carries initial_resource_versions: its holder may share the lease.
    this.o.apply(this.nextSlice(req), lease);
    if (this.big === null) this.endBig();
  }

  /** The sliced request is done or dropped: its names were made into strings, its bytes are not read again. */
  private endBig(): void {
    this.big = null;
    this.bigLease.release();
    this.bigLease = UNPOOLED;
  }

  /** The budget is per turn: the first work of a turn arranges its refill on the next. */
  private startTurn(): void {
    if (this.refill) return;
    this.refill = true;
    setImmediate(() => {
      this.refill = false;
      this.names = 0;
      this.requests = 0;
      this.bytes = 0;
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
    this.nameRate.take(sub.length + unsub.length);
    if (this.subAt >= req.subscribe.length && this.unsubAt >= req.unsubscribe.length) this.big = null;
    const typeUrl = req.request.typeUrl;
    if (first) return { ...req.request, subscribe: sub, unsubscribe: unsub };
    return { typeUrl, subscribe: sub, unsubscribe: unsub, initialResourceVersions: NO_VERSIONS, responseNonce: '' };
  }
}

/** Tokens refilled at `rate` per second up to one second's worth; may go negative (whole messages and slices). */
class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly now: () => number,
  ) {
    this.tokens = rate;
    this.at = now();
  }

  take(n: number): void {
    this.tokens -= n;
  }

  /** Milliseconds until a token is available (0: now). */
  waitMs(): number {
    if (this.tokens > 0) return 0;
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.at) * this.rate) / 1000);
    this.at = t;
    return this.tokens > 0 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }
}
