/**
 * A server-wide cap on request bytes held while large messages are being
 * received. Why: a reconnecting ztunnel's first request carries
 * initial_resource_versions for everything it holds (≈3.5 MB at 50k
 * workloads), and a reconnect storm of 1,000 ztunnels would otherwise buffer
 * every one of them at once (measured: 2.9 GB RSS, no stream finished in
 * 300 s). A call whose next message is large reserves its whole declared
 * length (the gRPC length prefix) before reading on; when the budget is
 * spent it pauses, so HTTP/2 flow control holds the client back (the stream
 * window stops being replenished), and it resumes in arrival order as others
 * release. A reservation never exceeds the total (the receive limit is
 * checked first), and a call that holds one only ever completes or closes,
 * so admission cannot deadlock.
 */
export class ReceiveBudget {
  private used = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];
  /**
   * Messages this small are never metered, and a larger one reserves once this much of it arrived: about one
   * HTTP/2 default window, what any caller can have in flight anyway. Also about what a call waiting for room
   * holds, promoted and freed only by a full Mark-Compact: at 256 KiB (and the window then widened at
   * authentication), such chunks started 21 of a 1,000-reconnect storm's 25 marking cycles
   * (docs/design/reconnect-storm-cpu.md, session 15).
   */
  readonly threshold: number;

  constructor(
    readonly total: number,
    threshold = 64 * 1024,
  ) {
    this.threshold = Math.min(threshold, total);
  }

  /** Bytes currently reserved. */
  get inUse(): number {
    return this.used;
  }

  /** Calls waiting for room. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Reserves `bytes` now (returns true) or queues `grant`, called once room is
   * made (returns false). Queued requests are served strictly in order, so a
   * large one is not starved by later small ones.
   */
  reserve(bytes: number, grant: () => void): boolean {
    const n = Math.min(bytes, this.total);
    if (this.waiting.length === 0 && this.used + n <= this.total) {
      this.used += n;
      return true;
    }
    this.waiting.push({ bytes: n, grant });
    return false;
  }

  /** Returns a reservation and admits waiters that now fit. */
  release(bytes: number): void {
    this.used = Math.max(0, this.used - Math.min(bytes, this.total));
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.total) {
      const w = this.waiting.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }

  /** Drops a queued request (its call closed while waiting). */
  cancel(grant: () => void): void {
    const i = this.waiting.findIndex((w) => w.grant === grant);
    if (i >= 0) this.waiting.splice(i, 1);
    // The head may have been the blocker.
    this.release(0);
  }
}
