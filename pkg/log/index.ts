export { createRootLogger, createSilentLogger, REDACT_PATHS } from './logger';
export type { Logger, LogFields, LoggerOptions } from './logger';
export { LogLimiter } from './limiter';
