/**
 * At most `perSecond` lines per one-second window for one source of repeated
 * warnings (a caller can trigger them at will); what is dropped is counted
 * and reported with the next line that is let through. The clock is injected
 * (milliseconds, monotonic or wall: only differences are used).
 */
export class LogLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private inWindow = 0;
  private dropped = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {}

  /**
   * Undefined = drop this line (counted). Otherwise log it, with
   * `suppressed` (lines dropped since the last one logged) when non-zero.
   */
  take(): { suppressed?: number } | undefined {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.dropped++;
      return undefined;
    }
    this.inWindow++;
    const suppressed = this.dropped;
    this.dropped = 0;
    return suppressed > 0 ? { suppressed } : {};
  }
}
