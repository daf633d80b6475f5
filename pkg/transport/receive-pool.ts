/**
 * Reusable buffers for request messages that arrive in many HTTP/2 DATA chunks.
 *
 * Why: a reconnecting ztunnel's first request is ~1.1 MB at 10k names (3.5 MB at 50k). Joined into a
 * fresh buffer each, a storm of 200 reconnects allocated ~200 MB of ArrayBuffers that V8 reclaims only
 * by full Mark-Compacts of the daemon's whole heap (docs/design/reconnect-storm-cpu.md: 9 of them per
 * storm, "external memory pressure"). A buffer handed back here is filled by the next message instead.
 *
 * Lifetime: the request's bytes are read after the transport delivered them (decoded names, the
 * initial_resource_versions a stream keeps until its first response), so only the consumer knows when
 * it is done. Each message comes with a MessageLease; the buffer returns to the pool once every hold
 * on it is released. A hold never released costs only what a fresh buffer costs (V8 collects it with
 * its lease); a buffer is never handed out again while a hold remains.
 *
 * Bounded: sizes are powers of two from minBytes to maxBytes (a larger message bypasses the pool) and
 * at most maxIdleBytes of returned buffers are kept; one given back beyond that is left to the GC.
 * Idle buffers are kept only while some buffer is still leased: when the last one comes back, one idle
 * buffer per size class is kept and the others are dropped, until the owner's trimIfQuiet() finds no take since its
 * previous call. Why: keeping every buffer of a 200-client storm left ~37 MB idle (~185 KiB of idle memory
 * per stream in the xds bench), but dropping all of them made the pool useless when requests are handled
 * one at a time (one core, each message decoded and released before the next is joined): instrumented,
 * 400 takes in two storms, 0 reused, each a fresh power-of-two buffer (2 MiB for a 1.1 MB request), twice
 * the external bytes Buffer.concat allocates and so more Mark-Compacts (docs/design/reconnect-storm-cpu.md).
 * Single writer: the event loop.
 */
export interface MessageLease {
  /** Another hold on the same bytes, released on its own (throws if this hold was already released). */
  share(): MessageLease;
  /** Gives this hold up. Idempotent. Its bytes must not be read afterwards. */
  release(): void;
}

/** A message that owns its bytes (not pooled): holding or releasing it changes nothing. */
export const UNPOOLED: MessageLease = { share: () => UNPOOLED, release: () => undefined };

export interface ReceivePoolOptions {
  /** Smallest pooled size (default 64 KiB): smaller messages are cheap to allocate. */
  minBytes?: number;
  /** Largest pooled size (default 4 MiB, the default receive limit): larger messages bypass the pool. */
  maxBytes?: number;
  /** Bytes of idle buffers kept (default 16 MiB; the gRPC server keeps as many as its receive budget). */
  maxIdleBytes?: number;
}

/** One pooled buffer and the number of holds on it. */
class Slot {
  holds = 0;
  constructor(
    readonly buf: Buffer,
    readonly cls: number,
    /** Where the slot goes when its last hold is released. */
    readonly home: (s: Slot) => void,
  ) {}
}

class Hold implements MessageLease {
  private released = false;

  constructor(private readonly slot: Slot) {
    slot.holds++;
  }

  share(): MessageLease {
    if (this.released) throw new Error('message lease shared after release');
    return new Hold(this.slot);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (--this.slot.holds === 0) this.slot.home(this.slot);
  }
}

export class ReceivePool {
  private readonly minShift: number;
  private readonly maxShift: number;
  private readonly maxIdleBytes: number;
  private readonly free: Slot[][] = [];
  private idle = 0;
  /** Slots handed out and not yet given back by their last holder. */
  private out = 0;
  /** Takes since the last trimIfQuiet(). */
  private takesSinceTrim = 0;
  /** Buffers allocated because none of the size was free, and takes served from the free lists. */
  allocated = 0;
  reused = 0;

  constructor(o: ReceivePoolOptions = {}) {
    this.minShift = Math.ceil(Math.log2(Math.max(1, o.minBytes ?? 64 * 1024)));
    this.maxShift = Math.max(this.minShift, Math.ceil(Math.log2(Math.max(1, o.maxBytes ?? 4 * 1024 * 1024))));
    this.maxIdleBytes = o.maxIdleBytes ?? 16 * 1024 * 1024;
    for (let s = this.minShift; s <= this.maxShift; s++) this.free.push([]);
  }

  /**
   * A buffer of at least `bytes` (its first `bytes` are the message's) and the first hold on it, or
   * undefined when the size is outside the pooled range (the caller allocates).
   */
  take(bytes: number): { buf: Buffer; lease: MessageLease } | undefined {
    if (bytes > 2 ** this.maxShift) return undefined;
    this.takesSinceTrim++;
    const cls = Math.max(0, Math.ceil(Math.log2(Math.max(1, bytes))) - this.minShift);
    let slot = this.free[cls]!.pop();
    if (slot) {
      this.idle -= slot.buf.length;
      this.reused++;
    } else {
      this.allocated++;
      // One backing store per buffer, not a slice of Node's shared 8 KiB slabs.
      slot = new Slot(Buffer.allocUnsafeSlow(2 ** (cls + this.minShift)), cls, this.giveBack);
    }
    this.out++;
    return { buf: slot.buf, lease: new Hold(slot) };
  }

  /** The last hold on a slot was released. */
  private readonly giveBack = (slot: Slot): void => {
    if (--this.out === 0) {
      // Nothing leased: keep one buffer per size class, for the next messages of a storm served one at a time
      // (its requests alternate between classes, e.g. one type's 1.1 MB list and another's smaller one).
      this.keepOnePerClass();
      if (this.free[slot.cls]!.length > 0 || this.idle + slot.buf.length > this.maxIdleBytes) return;
      this.idle += slot.buf.length;
      this.free[slot.cls]!.push(slot);
      return;
    }
    if (this.idle + slot.buf.length > this.maxIdleBytes) return;
    this.idle += slot.buf.length;
    this.free[slot.cls]!.push(slot);
  };

  /**
   * Drops every idle buffer if nothing was taken since the previous call, so a storm's buffers (up to maxIdleBytes)
   * do not stay resident once the storm is over; a caller runs it on a period. Returns the bytes dropped.
   */
  trimIfQuiet(): number {
    const quiet = this.takesSinceTrim === 0;
    this.takesSinceTrim = 0;
    return quiet ? this.dropIdle() : 0;
  }

  private keepOnePerClass(): void {
    for (const list of this.free) {
      while (list.length > 1) this.idle -= list.pop()!.buf.length;
    }
  }

  private dropIdle(): number {
    const dropped = this.idle;
    for (const list of this.free) list.length = 0;
    this.idle = 0;
    return dropped;
  }

  /** Bytes of idle buffers held for reuse. */
  get idleBytes(): number {
    return this.idle;
  }
}
