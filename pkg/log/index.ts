export { createRootLogger, createSilentLogger, REDACT_PATHS } from './logger';
export type { Logger, LogFields, LoggerOptions } from './logger';
export { LogLimiter } from './log-limiter';
export { rateLimitedWarn } from './rate-limited';
export type { RateLimitedWarnOptions } from './rate-limited';
