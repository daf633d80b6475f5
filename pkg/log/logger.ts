import pino from 'pino';

/** The one logger type every component receives. pino's, so child() and levels are standard. */
export type Logger = pino.Logger;

/**
 * The fixed vocabulary of child-logger fields. Components bind these with
 * logger.child({...}) so log queries work the same across the daemon.
 */
export interface LogFields {
  component?: string;
  peer?: string;
  streamId?: string | number;
  nodeId?: string;
  typeUrl?: string;
  nonce?: string;
}

export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; defaults to stdout (fd 1). */
  destination?: NodeJS.WritableStream;
}

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log object.
 * Tokens, keys and CSR bodies must never reach the log.
 */
export const REDACT_PATHS: readonly string[] = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'privateKey',
  '*.privateKey',
  'key',
  '*.key',
  'csr',
  '*.csr',
  'bearerToken',
  '*.bearerToken',
];

export function createRootLogger(opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { app: 'ambientd' },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that discards everything; for tests and benchmarks. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
