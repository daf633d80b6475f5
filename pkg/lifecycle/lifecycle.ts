/** Injected time source: tests and benchmarks substitute their own. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds (for durations). */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/**
 * The contract every long-lived component follows: start() once, close() is
 * graceful and idempotent, destroy() is immediate. Timers are cleared by both.
 */
export interface Component {
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

/**
 * Polls `cond` until it returns a truthy value or `timeoutMs` passes. Used to
 * wait for a condition (never a fixed sleep) in tests and start-up paths.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 5;
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Fraction of the delay randomised either way, 0..1. */
  jitter?: number;
  random?: () => number;
}

/** Jittered exponential backoff. reset() after a success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}
  next(): number {
    const factor = this.opts.factor ?? 2;
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * factor ** this.attempt);
    this.attempt++;
    const j = this.opts.jitter ?? 0.2;
    const r = (this.opts.random ?? Math.random)();
    return Math.max(0, Math.round(base * (1 - j + 2 * j * r)));
  }
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
}
