import type { Clock } from '../lifecycle';
import type { PushBudget } from './push-budget';

/**
 * - `quiet`: istiod's debounce (discovery.go debounce()) exactly: the first
 *   event starts the clock; a push happens when events have been quiet for
 *   `after`, or when the first pending event is `max` old.
 * - `leading`: the same, except that an event arriving while the debouncer is
 *   idle (nothing pending, no push within the last `after`) is pushed at the
 *   end of the current event-loop turn, with whatever else that turn
 *   delivered. istiod waits out a quiet period first because its pushes
 *   rebuild everything; ours cost O(changed), so the wait buys nothing for a
 *   lone change and, on a loaded host, costs one more timer wake-up. Churn
 *   (events closer together than `after`) still coalesces exactly as in
 *   `quiet` from the second event on.
 */
export type DebounceMode = 'leading' | 'quiet';

/** The timer functions the debouncer uses (tests inject a fake clock's). */
export interface DebounceTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(fn: () => void): unknown;
  clearImmediate(handle: unknown): void;
}

export const nodeTimers: DebounceTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setImmediate: (fn) => setImmediate(fn),
  clearImmediate: (h) => clearImmediate(h as NodeJS.Immediate),
};

export interface DebounceOptions {
  /** Quiet period (ms): push once no event arrived for this long. */
  after: number;
  /** Longest an event waits under continuous churn (ms). */
  max: number;
  /** Default `leading`. */
  mode?: DebounceMode;
  clock: Clock;
  timers?: DebounceTimers;
  /**
   * Spaces pushes under churn (PushBudget); the wait it asks for never exceeds `max`, and a held batch goes out
   * once PROBE_AFTERS × `after` pass without another change arriving (PushBudget.missed). Default none.
   */
  budget?: PushBudget;
  fire: () => void;
}

/**
 * A batch held by the budget goes out (and holding turns off for a while) when no further change arrived within
 * this many quiet periods of its latest one: at 100 changes/s and the default 5 ms that is 15 ms, past the next
 * change's due time, while a change that waits for the previous one to arrive everywhere loses at most 15 ms.
 */
export const PROBE_AFTERS = 3;

/**
 * Coalesces change notifications into pushes (see DebounceMode). Only one
 * push runs at a time: `fire` is synchronous, and events during it are merged
 * into the next one by the caller's accumulator. With a budget, a batch that
 * the debounce would push also waits until the budget allows it (or until it
 * is `max` old); the owner reports each push's end with settled().
 */
export class Debouncer {
  private timer: unknown;
  private immediate: unknown;
  private firstAt = 0;
  private lastAt = 0;
  /** When the last push returned; -Infinity = never (the first event is on an idle debouncer). */
  private lastFireAt = -Infinity;
  private pending = false;
  private closed = false;
  private readonly timers: DebounceTimers;
  private readonly mode: DebounceMode;

  constructor(private readonly o: DebounceOptions) {
    this.timers = o.timers ?? nodeTimers;
    this.mode = o.mode ?? 'leading';
  }

  /** Monotonic time of the first event of the batch being fired (for latency metrics). */
  batchFirstAt = 0;
  /** The batch being fired waited for the budget (for metrics). */
  batchPaced = false;
  /** The pending batch is (or was) held by the budget. */
  private paced = false;
  /** Whether a change arrived after the pending batch was first held by the budget. */
  private gained = false;

  /** Records an event. */
  poke(): void {
    if (this.closed) return;
    const now = this.o.clock.monotonic();
    if (this.paced) this.gained = true;
    this.lastAt = now;
    if (!this.pending) {
      this.pending = true;
      this.firstAt = now;
      if (this.mode === 'leading' && now - this.lastFireAt >= this.o.after && this.budgetWait(now) === 0) {
        // setImmediate, not a synchronous push: a watch chunk or file scan that
        // delivers several events in this turn still becomes one push.
        this.immediate = this.timers.setImmediate(() => {
          this.immediate = undefined;
          if (this.pending && !this.closed) this.fire();
        });
        return;
      }
    }
    if (this.timer === undefined && this.immediate === undefined) this.arm(this.o.after);
  }

  private arm(ms: number): void {
    this.timer = this.timers.setTimeout(() => this.check(), Math.max(0, ms));
  }

  private check(): void {
    this.timer = undefined;
    if (!this.pending || this.closed) return;
    const now = this.o.clock.monotonic();
    const quiet = now - this.lastAt;
    const age = now - this.firstAt;
    const wait = quiet >= this.o.after ? this.budgetWait(now) : 0;
    if ((quiet >= this.o.after && wait === 0) || age >= this.o.max) {
      this.fire();
      return;
    }
    this.arm(Math.min(Math.max(this.o.after - quiet, wait), this.o.max - age));
  }

  /**
   * Ms the budget asks the pending batch to wait (0 without a budget); marks the batch paced when > 0. Until a
   * further change arrives, the wait ends PROBE_AFTERS quiet periods after the batch's latest change: then the
   * batch goes out and the budget hears it missed.
   */
  private budgetWait(now: number): number {
    const b = this.o.budget;
    const wait = b ? b.wait(now) : 0;
    if (!b || wait <= 0) return 0;
    let hold = wait;
    if (!this.gained) {
      const left = this.lastAt + PROBE_AFTERS * Math.max(1, this.o.after) - now;
      if (left <= 0) {
        b.missed(now);
        return 0;
      }
      hold = Math.min(wait, left);
    }
    this.paced = true;
    return hold;
  }

  /**
   * The last push finished its work (PushBudget.settled). A batch waiting on the budget is checked again on the
   * next turn, not inside the caller's own callback.
   */
  settled(): void {
    if (!this.o.budget || this.closed) return;
    this.o.budget.settled(this.o.clock.monotonic());
    if (this.pending && this.paced && this.immediate === undefined) {
      if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
      this.arm(0);
    }
  }

  private fire(): void {
    this.pending = false;
    this.batchFirstAt = this.firstAt;
    this.batchPaced = this.paced;
    if (this.paced && this.gained) this.o.budget?.paid();
    this.paced = this.gained = false;
    this.o.budget?.started(this.o.clock.monotonic());
    try {
      this.o.fire();
    } finally {
      this.lastFireAt = this.o.clock.monotonic();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    if (this.immediate !== undefined) this.timers.clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}
