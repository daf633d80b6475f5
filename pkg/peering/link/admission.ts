/**
 * Bounded, coalescing admission for peer dials (every queue an outsider
 * can fill is bounded). At most `limit` links are between "dial" and "first sync done"
 * at once; the rest wait in FIFO order. Without it, N = 2,000 declared peers
 * are dialled in one go at start-up (or after a partition heals): 2,000 TLS
 * handshakes and first responses land together, every first sync completes
 * in the same few loop turns, and the daemon builds one huge push for its
 * ztunnels instead of a stream of small ones (measured in the mesh bench:
 * ~1 GB of response buffers in flight at the peak).
 *
 * Coalescing: one entry per owner (a PeerClient) — asking again while
 * waiting keeps the place in line and the newest callback, so the queue is
 * bounded by the number of declared peers. A slot is given back on release
 * (first sync done, link ended, client closed) or after `holdMs`, so a peer
 * that accepts the connection but never answers cannot starve the others.
 */
export class Admission {
  private readonly active = new Map<object, NodeJS.Timeout>();
  private readonly waiting = new Map<object, () => void>();
  /** Owners admitted so far (a counter for tests and status, never reset). */
  admitted = 0;

  constructor(private readonly o: { limit: number; holdMs: number }) {
    if (!(o.limit >= 1)) throw new Error(`admission limit must be >= 1, got ${o.limit}`);
  }

  /** Runs `start` now if a slot is free, else when one frees up. An owner already admitted is not admitted twice. */
  admit(owner: object, start: () => void): void {
    if (this.active.has(owner)) return void start(); // it holds a slot already (a retry inside its turn)
    // Coalesce: an owner already waiting keeps its place in line (Map.set on a present key keeps the order).
    this.waiting.set(owner, start);
    this.pump();
  }

  /** The owner's turn is over (or it gave up waiting): frees its slot or drops its queued entry. Idempotent. */
  release(owner: object): void {
    this.waiting.delete(owner);
    const timer = this.active.get(owner);
    if (!timer) return;
    clearTimeout(timer);
    this.active.delete(owner);
    this.pump();
  }

  get inFlight(): number {
    return this.active.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  private pump(): void {
    while (this.active.size < this.o.limit && this.waiting.size > 0) {
      const [owner, start] = this.waiting.entries().next().value as [object, () => void];
      this.waiting.delete(owner);
      const timer = setTimeout(() => this.release(owner), this.o.holdMs);
      timer.unref?.();
      this.active.set(owner, timer);
      this.admitted++;
      // A start that throws must not wedge the queue: its slot is freed and the error surfaces.
      try {
        start();
      } catch (e) {
        this.release(owner);
        throw e;
      }
    }
  }

  /** Drops every slot and waiter (layer close). */
  clear(): void {
    for (const t of this.active.values()) clearTimeout(t);
    this.active.clear();
    this.waiting.clear();
  }
}
