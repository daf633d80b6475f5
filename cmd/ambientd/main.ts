#!/usr/bin/env -S node --initial-old-space-size=192
import {
  ConfigError,
  loadConfig,
  optionsHelp,
  redactConfig,
  OPTIONS,
  flagName,
  type DaemonConfig,
} from '../../pkg/config';
import { createRootLogger, type Logger } from '../../pkg/log';
import { buildDaemon, StartupError, VERSION, type Daemon } from '../../pkg/daemon';
import { parseArgs } from './argv';
import { tokenCreateCommand } from './token-cmd';
import { checkArgsFromFlags, checkCommand } from './check-cmd';
import { EXPOSE_FLAGS, LINK_FLAGS, exposeCommand, linkCommand } from './link-cmd';
import { createPeering } from '../../pkg/peering';
import { adminWithLogger } from '../../pkg/admin';
import { routeGrpcLogs } from '../../pkg/transport';
import { applyRuntime } from './runtime';
import { eastwestCommand } from './eastwest-cmd';
import { readNofile } from '../../pkg/admission';

/** Exit codes (documented in the README): 0 clean, 1 failure, 2 bad configuration. */
const EXIT_OK = 0;
const EXIT_FAIL = 1;
const EXIT_CONFIG = 2;

const USAGE = `ambientd — istiod-like control plane for Istio ambient mode with multicluster peering

Usage:
  ambientd serve [--config FILE] [--<setting>=<value> ...]   run the daemon
  ambientd token create --namespace NS --service-account SA [--node NODE] [--ttl 1h]
                        [--config FILE | --state-dir DIR]   (the same state dir as serve's)
  ambientd eastwest [--config FILE] [--<setting>=<value> ...]   run an east-west gateway (eastwest --help)
  ambientd check [--debug-url http://127.0.0.1:8080] [--token T] [--output json] [--stale-seconds 300]
  ambientd expose [--config FILE] [--address A[,B]] [--namespace istio-gateways] [--region R] [--zone Z] [--write]
  ambientd link --from <peer debug URL | file> [--config FILE] [--token T] [--address A[,B]] [--write]
  ambientd version
  ambientd --help | ambientd serve --help

Exit codes: 0 clean shutdown, 1 failure, 2 invalid configuration.
`;

async function main(argv: string[]): Promise<number> {
  const booleans = new Set(
    OPTIONS.filter((o) => o.kind === 'bool')
      .map(flagName)
      .concat(['help', 'write']),
  );
  const { positionals, flags } = parseArgs(argv, booleans);
  const cmd = positionals[0];
  if (cmd === 'version' || flags.version === 'true') {
    process.stdout.write(`ambientd ${VERSION} (node ${process.version})\n`);
    return EXIT_OK;
  }
  if (cmd === 'eastwest') return eastwestCommand(flags, process.env);
  if (!cmd || (flags.help === 'true' && cmd !== 'serve')) {
    process.stdout.write(USAGE);
    return cmd || flags.help === 'true' ? EXIT_OK : EXIT_CONFIG;
  }
  if (cmd === 'serve') {
    if (flags.help === 'true') {
      process.stdout.write(
        `${USAGE}\nSettings (flag, env, default; precedence defaults < file < env < flags):\n${optionsHelp()}\n`,
      );
      return EXIT_OK;
    }
    return serve(flags);
  }
  if (cmd === 'token' && positionals[1] === 'create') return tokenCreate(flags);
  if (cmd === 'check') {
    const args = checkArgsFromFlags(flags, process.env.AMBIENTD_DEBUG_TOKEN);
    if (typeof args === 'string') {
      process.stderr.write(`check: ${args}\n`);
      return EXIT_CONFIG;
    }
    return checkCommand(args, process.stdout);
  }
  if (cmd === 'expose' || cmd === 'link') {
    const own = new Set<string>(cmd === 'expose' ? EXPOSE_FLAGS : LINK_FLAGS);
    const mine: Record<string, string> = {};
    const rest: Record<string, string> = {};
    for (const [k, v] of Object.entries(flags)) (own.has(k) ? mine : rest)[k] = v;
    const cfg = loadCliConfig(rest);
    if (typeof cfg === 'number') return cfg;
    const io = { out: process.stdout, err: process.stderr };
    if (cmd === 'expose') return exposeCommand(cfg, mine, io);
    return linkCommand(cfg, { ...mine, token: mine.token ?? process.env.AMBIENTD_DEBUG_TOKEN ?? '' }, io);
  }
  process.stderr.write(`unknown command "${positionals.join(' ')}"\n\n${USAGE}`);
  return EXIT_CONFIG;
}

/** `token create`'s own flags; every other flag is a daemon setting (--state-dir, --trust-domain, ...). */
const TOKEN_FLAGS = new Set(['namespace', 'service-account', 'node', 'ttl', 'config']);

/**
 * `ambientd token create`: the state directory and trust domain come from the
 * same sources as `serve` (defaults < --config file < env < flags), so by
 * default both use the same issuer key.
 */
async function tokenCreate(flags: Record<string, string>): Promise<number> {
  if (!flags.namespace || !flags['service-account']) {
    process.stderr.write('token create: --namespace and --service-account are required\n');
    return EXIT_CONFIG;
  }
  const settings = Object.fromEntries(Object.entries(flags).filter(([k]) => !TOKEN_FLAGS.has(k)));
  const cfg = loadOrReport({ flags: settings, env: process.env, file: flags.config }, 'ambientd token create');
  if (!cfg) return EXIT_CONFIG;
  const [host, port] = splitListen(cfg.admin.debugListen);
  return tokenCreateCommand(
    {
      stateDir: cfg.stateDir,
      namespace: flags.namespace,
      serviceAccount: flags['service-account'],
      node: flags.node,
      ttl: flags.ttl ?? '1h',
      trustDomain: cfg.trustDomain,
      daemonDebugUrl: `http://${host}:${port}`,
      debugToken: cfg.admin.debugToken || undefined,
    },
    process.stdout,
  );
}

/** host:port of a listen address, with a wildcard host replaced by loopback (where a local client connects). */
function splitListen(listen: string): [string, string] {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  const connect = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return [connect.includes(':') ? `[${connect}]` : connect, listen.slice(i + 1)];
}

function loadOrReport(input: Parameters<typeof loadConfig>[0], who: string): DaemonConfig | undefined {
  try {
    return loadConfig(input);
  } catch (e) {
    if (e instanceof ConfigError) {
      const n = e.problems.length;
      process.stderr.write(`${who}: invalid configuration (${n} problem${n > 1 ? 's' : ''}):\n`);
      for (const p of e.problems) process.stderr.write(`  ${p}\n`);
      return undefined;
    }
    throw e;
  }
}

/** The daemon's settings for a CLI command (same sources as serve); exit code on invalid configuration. */
function loadCliConfig(flags: Record<string, string>): DaemonConfig | number {
  const file = flags.config;
  delete flags.config;
  return loadOrReport({ flags, env: process.env, file }, 'ambientd') ?? EXIT_CONFIG;
}

async function serve(flags: Record<string, string>): Promise<number> {
  const file = flags.config;
  delete flags.config;
  const cfg = loadOrReport({ flags, env: process.env, file }, 'ambientd');
  if (!cfg) return EXIT_CONFIG;
  const logger = createRootLogger({ level: cfg.log.level });
  routeGrpcLogs(logger);
  const collectGarbage = applyRuntime(cfg.runtime, logger);
  logger.info({ config: redactConfig(cfg) }, 'effective configuration');
  let daemon: Daemon;
  try {
    daemon = await buildDaemon(cfg, {
      logger,
      reloadConfig: () => loadConfig({ flags, env: process.env, file }),
      peering: createPeering,
      admin: adminWithLogger(logger),
      collectGarbage,
      nofileSoftLimit: readNofile()?.soft,
    });
  } catch (e) {
    return startFailed(e, logger);
  }
  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const stop = (sig: string): void => {
      if (stopping) {
        logger.warn({ signal: sig }, 'second signal: exiting now');
        daemon.destroy();
        resolve(EXIT_FAIL);
        return;
      }
      stopping = true;
      logger.info({ signal: sig, deadlineMs: cfg.drainDeadline }, 'draining');
      const deadline = setTimeout(() => {
        logger.warn('drain deadline passed: forcing shutdown');
        daemon.destroy();
        resolve(EXIT_OK);
      }, cfg.drainDeadline);
      daemon.close().then(
        () => {
          clearTimeout(deadline);
          logger.info('stopped');
          resolve(EXIT_OK);
        },
        (err: unknown) => {
          clearTimeout(deadline);
          logger.error({ err }, 'error during shutdown');
          resolve(EXIT_FAIL);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Diagnostics: SIGUSR2 logs memory use, after a full GC when node runs
    // with --expose-gc (how `make bench` measures memory per stream).
    process.on('SIGUSR2', () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      // Also what was held before the collection: live data vs garbage not yet collected.
      const before = process.memoryUsage();
      if (gc) {
        gc();
        gc();
      }
      const streams = daemon.xds.streamCount;
      logger.info({ memory: process.memoryUsage(), before, gc: Boolean(gc), streams }, 'memory usage');
    });
    process.on('SIGHUP', () => {
      daemon.reload().catch((err: unknown) => logger.error({ err }, 'reload failed'));
    });
  });
  try {
    await daemon.start();
  } catch (e) {
    daemon.destroy();
    return startFailed(e, logger);
  }
  return done;
}

function startFailed(e: unknown, logger: Logger): number {
  const msg = e instanceof StartupError ? e.message : (e as Error).message;
  process.stderr.write(`ambientd: ${msg}\n`);
  logger.error({ err: e }, 'start-up failed');
  return EXIT_FAIL;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      // Let pino flush, then exit with the documented code.
      process.exitCode = code;
      setImmediate(() => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`ambientd: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(EXIT_FAIL);
    },
  );
}

export { main };
