/**
 * Work a source parks until the next push (Pusher.defer). `defer` says work is pending; the gate calls `drain`
 * (synchronously, once) before its next snapshot. Under churn the pusher holds pushes, so the changes of that wait
 * are applied one after another instead of one per event: back to back, the parser and the registry stay in the
 * CPU's caches (docs/design/push-budget.md, "Edits applied at the push").
 */
export interface IngestGate {
  defer(drain: () => void): void;
}

/**
 * How long parked work waits for a gate that does not drain (ms): above the default `xds.debounceMax` (50 ms), the
 * longest the pusher holds a batch, so the gate drains first.
 */
export const GATE_WAIT_MS = 250;

/**
 * One source's parked work: each time more is parked the gate is told (a change for the debounce), and `run` is
 * called once when the gate drains it or `waitMs` after the first parking, whichever comes first.
 */
export class ParkedWork {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gate: IngestGate,
    private readonly run: () => void,
    private readonly waitMs = GATE_WAIT_MS,
  ) {}

  /** More work was parked. */
  parked(): void {
    if (!this.timer) {
      this.timer = setTimeout(this.drain, this.waitMs);
      this.timer.unref();
    }
    this.gate.defer(this.drain);
  }

  /** Runs the parked work now (the gate, the wait, or the owner, before work that must follow it). */
  readonly drain = (): void => {
    this.close();
    this.run();
  };

  /** Stops waiting; nothing runs unless drained. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
