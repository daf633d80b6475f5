import type { Logger } from './logger';

export interface RateLimitedWarnOptions {
  /** Lines written per one-second window; the rest are counted (default 20). */
  perSecond?: number;
  /** Logged once the next window opens, with `{ suppressed: n }`. */
  suppressedMsg: string;
  /** Milliseconds; injected so tests need no real time. */
  now?: () => number;
}

/**
 * A warn-level logger for what outsiders can make happen at will (refused
 * callers, odd requests): a flood of them never becomes a flood of log lines.
 * At most `perSecond` lines per one-second window, then one line counting the
 * ones dropped (the metrics still count every event).
 */
export function rateLimitedWarn(logger: Logger, o: RateLimitedWarnOptions): (fields: object, msg: string) => void {
  const perSecond = o.perSecond ?? 20;
  const now = o.now ?? Date.now;
  let windowStart = -Infinity;
  let logged = 0;
  let suppressed = 0;
  return (fields, msg) => {
    const t = now();
    if (t - windowStart >= 1000) {
      if (suppressed > 0) logger.warn({ suppressed }, o.suppressedMsg);
      windowStart = t;
      logged = 0;
      suppressed = 0;
    }
    if (logged++ < perSecond) logger.warn(fields, msg);
    else suppressed++;
  };
}
