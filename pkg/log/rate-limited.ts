import { LogLimiter } from './log-limiter';
import type { Logger } from './logger';

export interface RateLimitedWarnOptions {
  /** Lines written per one-second window; the rest are counted (default 20). */
  perSecond?: number;
  /** Logged before the next line let through, with `{ suppressed: n }`. */
  suppressedMsg: string;
  /** Milliseconds; injected so tests need no real time. */
  now?: () => number;
}

/**
 * A warn-level logger for what outsiders can make happen at will (refused
 * callers, odd requests): a flood of them never becomes a flood of log lines.
 * At most `perSecond` lines per one-second window (LogLimiter); the first line
 * of a later window is preceded by one line counting the ones dropped (the
 * metrics still count every event).
 */
export function rateLimitedWarn(logger: Logger, o: RateLimitedWarnOptions): (fields: object, msg: string) => void {
  const limiter = new LogLimiter(o.perSecond ?? 20, o.now ?? Date.now);
  return (fields, msg) => {
    const line = limiter.take();
    if (!line) return;
    if (line.suppressed) logger.warn({ suppressed: line.suppressed }, o.suppressedMsg);
    logger.warn(fields, msg);
  };
}
