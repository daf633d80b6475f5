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

/**
 * pino writes a child's bindings after its parent's, as text, so a component
 * that binds `component` under a parent that already did produced
 * `"component":"daemon","component":"admin"` — a record JSON pipelines reject.
 * Called once per child (pino's onChild hook, inherited by grandchildren):
 * the bindings are rewritten with each key once, the innermost value winning
 * (JSON.parse keeps the last duplicate). pino.symbols.chindingsSym holds that
 * text (`,"k":v,...`); pino's own bindings() parses it the same way.
 */
export function dedupeChildBindings(child: Logger): void {
  // A symbol-keyed property pino's types do not declare: read and written through Reflect, checked to be text.
  const text: unknown = Reflect.get(child, pino.symbols.chindingsSym);
  if (typeof text !== 'string' || !text) return;
  const bound = JSON.parse(`{${text.slice(1)}}`) as Record<string, unknown>;
  const keys = Object.keys(bound);
  const pairs = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(bound[k])}`);
  const once = pairs.length === 0 ? '' : `,${pairs.join(',')}`;
  if (once !== text) Reflect.set(child, pino.symbols.chindingsSym, once);
}

export function createRootLogger(opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { app: 'ambientd' },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    onChild: dedupeChildBindings,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that discards everything; for tests and benchmarks. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
