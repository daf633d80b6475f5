export interface AfterBurstOptions {
  /** Work units (e.g. resources committed) that make a burst. */
  threshold: number;
  /** The burst has ended once fewer units than this came within `quietMs`. */
  quietBelow: number;
  /** The window in which fewer than `quietBelow` units mean quiet (ms). */
  quietMs: number;
  run: () => void;
  /**
   * Is the work's tail done too? A quiet window that finds it false waits one
   * more window, at most `maxDeferrals` times (default 6), then runs anyway.
   */
  settled?: () => boolean;
  maxDeferrals?: number;
  /** Timer functions (tests); default Node's. */
  timers?: Timers;
}

interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

const nodeTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * Calls `run` once after a burst of work has ended: at least `threshold` units
 * noted since the last run, then a window of `quietMs` in which fewer than
 * `quietBelow` came. A sync arrives as many small pushes (peers connect over
 * tens of seconds), so the rate, not the size of one push, tells that it is
 * over; a steady trickle of changes stays below the rate, so a mesh that is
 * never fully idle still gets its run.
 *
 * The daemon uses it to ask V8 for one full collection after a first sync or
 * a large resync: V8 sizes its next collection from the live heap at the last
 * one, which during a sync includes the sync's own transient data. After the
 * sync the allocation rate is low, V8's memory reducer does not step in, and
 * the process kept the sync's garbage (about half of the JS heap at 2,000
 * peers) for minutes. Commits end before the streams have taken them: with
 * `settled` (every xDS stream caught up) the collection also waits for the
 * write tail, whose buffers and garbage it would otherwise leave behind
 * (--trace-gc at 2,000 peers: the collection ran at 40 s, the last ztunnel
 * finished its first sync at 45 s, and the heap stayed ~35 MiB larger).
 */
export class AfterBurst {
  private units = 0;
  /** Units noted since the current window started. */
  private recent = 0;
  private timer: unknown;
  private deferrals = 0;
  private closed = false;
  private readonly timers: Timers;

  constructor(private readonly o: AfterBurstOptions) {
    this.timers = o.timers ?? nodeTimers;
  }

  note(units: number): void {
    if (this.closed || units <= 0) return;
    this.units += units;
    this.recent += units;
    if (this.units >= this.o.threshold && this.timer === undefined) this.arm();
  }

  private arm(): void {
    this.recent = 0;
    this.timer = this.timers.setTimeout(() => this.check(), this.o.quietMs);
  }

  private check(): void {
    this.timer = undefined;
    if (this.closed) return;
    if (this.recent >= this.o.quietBelow) return void this.arm();
    if (this.o.settled && !this.o.settled() && this.deferrals < (this.o.maxDeferrals ?? 6)) {
      this.deferrals++;
      return void this.arm();
    }
    this.units = 0;
    this.deferrals = 0;
    this.o.run();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
