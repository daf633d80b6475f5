/** The longest holding stays off after repeated misses, in windows. */
export const OFF_MAX_WINDOWS = 64;

/**
 * Misses in a row that turn holding off once a hold has gained: under open churn a change is sometimes later than
 * the probe slice (the loop was busy writing a fan-out), and one such gap should not end the pacing.
 */
export const MISSES_TOLERATED = 3;

/**
 * A share of the event loop that pushes may keep busy, as a token bucket of loop milliseconds: it fills at
 * `share` ms per ms up to `share × windowMs`, and each push spends what it took, from its start until its
 * owner says it settled (in the daemon: the end of the xDS fan-out pass that wrote the push to every stream).
 *
 * Why: at 100 changes/s with 200 ztunnels one push per change costs the daemon ~80 % of a core, against the
 * seed's 10–30 % (issue 20 target 5; docs/design/push-budget.md). A push that goes out after a quiet period is
 * never delayed (the bucket is full); under churn, pushes are spaced so that over a window they keep the loop
 * busy for at most `share` of the time, each one carrying every change that arrived meanwhile. The Debouncer
 * caps the wait at its `max`, so latency stays bounded when a single push costs more than the budget allows.
 *
 * Holding a batch only pays when more changes arrive while it waits. When each change waits for the previous one to
 * arrive everywhere (a closed loop, e.g. the xds bench's fan-out), none does, and the wait is pure delay. So the
 * Debouncer holds a batch for at most a probe slice until another change arrives; a batch that gained nothing in
 * it reports missed(). A miss with no gain since holding was last off, or the MISSES_TOLERATED-th in a row, turns
 * holding off for `windowMs`, twice as long after each further such miss (up to OFF_MAX_WINDOWS windows); paid() (a
 * held batch that gained a change) resets that back-off.
 */
export class PushBudget {
  private readonly cap: number;
  /** Holding is off until then (after a miss). */
  private offUntil = -Infinity;
  /** How long the next miss turns holding off. */
  private offFor: number;
  /** Misses left before holding turns off (MISSES_TOLERATED after a hold that gained; 0 = the next one does). */
  private trust = 0;
  private credit: number;
  private filledAt: number;
  /** Start of the push not yet settled; -1 = none. */
  private startedAt = -1;

  constructor(
    private readonly share: number,
    now: number,
    private readonly windowMs = 1000,
    /** Called each time misses turn holding off (a metric). */
    private readonly onOff?: () => void,
  ) {
    if (!(share > 0 && share <= 1)) throw new RangeError(`push budget share must be in (0, 1], got ${share}`);
    this.cap = share * windowMs;
    this.credit = this.cap;
    this.filledAt = now;
    this.offFor = windowMs;
  }

  /**
   * Ms from `now` until a push may start: 0 = now; Infinity while a push has not settled (its cost is not known
   * yet, and the next one would share the loop with it).
   */
  wait(now: number): number {
    if (now < this.offUntil) return 0;
    if (this.startedAt >= 0) return Infinity;
    this.fill(now);
    // Whole ms (timers' resolution), and a debt within rounding error is none: a wait of 1e-13 ms would re-arm a
    // timer that finds the same debt again.
    return this.credit > -1e-6 ? 0 : Math.ceil(-this.credit / this.share);
  }

  /**
   * A held batch gained no change within its probe slice. Holding turns off for a while (see the class comment)
   * once MISSES_TOLERATED misses came in a row since the last hold that gained, or at the first miss when none
   * gained since holding was last turned off.
   */
  missed(now: number): void {
    if (--this.trust > 0) return;
    this.trust = 0;
    this.onOff?.();
    this.offUntil = now + this.offFor;
    this.offFor = Math.min(this.offFor * 2, OFF_MAX_WINDOWS * this.windowMs);
  }

  /** A held batch gained a change while it waited: misses are tolerated again, and the back-off is one window. */
  paid(): void {
    this.trust = MISSES_TOLERATED;
    this.offFor = this.windowMs;
  }

  /** A push starts now. A previous one that never settled is charged nothing more. */
  started(now: number): void {
    this.startedAt = now;
  }

  /** The push that started last has finished its work: its duration is spent. No-op when none is running. */
  settled(now: number): void {
    if (this.startedAt < 0) return;
    this.fill(now);
    this.credit -= Math.max(0, now - this.startedAt);
    this.startedAt = -1;
  }

  private fill(now: number): void {
    if (now > this.filledAt) this.credit = Math.min(this.cap, this.credit + (now - this.filledAt) * this.share);
    this.filledAt = now;
  }
}
