import { ConfigError, EASTWEST_OPTIONS, loadEastwestConfig, optionsHelp } from '../../pkg/config';
import { createRootLogger } from '../../pkg/log';
import { EastWestGateway } from '../../pkg/eastwest';

export const EASTWEST_USAGE = `ambientd eastwest — the east-west gateway: terminates the outer HBONE tunnel of
cross-network traffic on 15008 and relays it to the destination pod's ztunnel (docs/eastwest.md).

Usage:
  ambientd eastwest [--config FILE] [--<setting>=<value> ...]
  ambientd eastwest --help
`;

/**
 * `ambientd eastwest`: loads its own config slice (defaults < file < env <
 * flags), runs one gateway until SIGTERM/SIGINT (drain, then exit 0; a
 * second signal exits at once). Returns the exit code.
 */
export async function eastwestCommand(flags: Record<string, string>, env: NodeJS.ProcessEnv): Promise<number> {
  if (flags.help === 'true') {
    process.stdout.write(`${EASTWEST_USAGE}\nSettings (flag, env, default; defaults < file < env < flags):\n`);
    process.stdout.write(`${optionsHelp(EASTWEST_OPTIONS)}\n`);
    return 0;
  }
  const file = flags.config;
  const rest = { ...flags };
  delete rest.config;
  let cfg;
  try {
    cfg = loadEastwestConfig({ flags: rest, env, file });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ambientd eastwest: invalid configuration (${e.problems.length} problem(s)):\n`);
      for (const p of e.problems) process.stderr.write(`  ${p}\n`);
      return 2;
    }
    throw e;
  }
  const logger = createRootLogger({ level: cfg.log.level });
  logger.info({ config: cfg }, 'effective configuration');
  const gw = new EastWestGateway(cfg, { logger });
  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const stop = (sig: string): void => {
      if (stopping) {
        logger.warn({ signal: sig }, 'second signal: exiting now');
        gw.destroy();
        resolve(1);
        return;
      }
      stopping = true;
      gw.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'error during drain');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  try {
    await gw.start();
  } catch (e) {
    process.stderr.write(`ambientd eastwest: ${(e as Error).message}\n`);
    logger.error({ err: e }, 'start-up failed');
    gw.destroy();
    return 1;
  }
  return done;
}
