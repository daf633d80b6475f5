import type { Clock } from '../lifecycle';

export interface DebounceOptions {
  /** Quiet period (ms): push once no event arrived for this long. */
  after: number;
  /** Longest an event waits under continuous churn (ms). */
  max: number;
  clock: Clock;
  fire: () => void;
}

/**
 * istiod's debounce (discovery.go debounce()): the first event starts the
 * clock; a push happens when events have been quiet for `after`, or when the
 * first pending event is `max` old. Only one push runs at a time: events during
 * a push are merged into the next one by the caller's accumulator.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private firstAt = 0;
  private lastAt = 0;
  private pending = false;
  private closed = false;

  constructor(private readonly o: DebounceOptions) {}

  /** Records an event. */
  poke(): void {
    if (this.closed) return;
    const now = this.o.clock.monotonic();
    if (!this.pending) {
      this.pending = true;
      this.firstAt = now;
    }
    this.lastAt = now;
    if (!this.timer) this.arm(this.o.after);
  }

  /** Monotonic time of the first event of the batch being fired (for latency metrics). */
  batchFirstAt = 0;

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), Math.max(0, ms));
  }

  private check(): void {
    this.timer = undefined;
    if (!this.pending || this.closed) return;
    const now = this.o.clock.monotonic();
    const quiet = now - this.lastAt;
    const age = now - this.firstAt;
    if (quiet >= this.o.after || age >= this.o.max) {
      this.pending = false;
      this.batchFirstAt = this.firstAt;
      this.o.fire();
      return;
    }
    this.arm(Math.min(this.o.after - quiet, this.o.max - age));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
