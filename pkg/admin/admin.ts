import Fastify, { LogController } from 'fastify';
import type { AddressInfo } from 'node:net';
import { createSilentLogger, type Logger } from '../log';
import { debugPlugin } from './debug';
import { healthPlugin } from './health';
import { parseListen } from './listen';
import { ConnectionAdmission } from '../admission';
import { ensureAdminMetrics, metricsPlugin } from './metrics';
import type { AdminDaemonView } from './views';

function makeApp(log: Logger) {
  // Request logging is ours (debug level): Prometheus scrapes every few seconds would flood info.
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug(
      {
        method: req.method,
        url: req.url.replace(/\?.*$/, ''),
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'admin request',
    );
  });
  // Internal errors are logged in full; the caller gets no internals.
  app.setErrorHandler((err: { statusCode?: number; message?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err, url: req.url.replace(/\?.*$/, '') }, 'admin request failed');
    void reply.code(status).send({ error: status === 500 ? 'internal error' : (err.message ?? 'bad request') });
  });
  return app;
}
type App = ReturnType<typeof makeApp>;

export interface AdminOptions {
  /** The daemon's root logger; admin logs under a child with component=admin. */
  logger?: Logger;
}

/**
 * The HTTP admin surface: a metrics server (cfg.admin.metricsListen) and a
 * debug/health server (cfg.admin.debugListen), each a fastify instance built
 * from small encapsulated plugins that receive read-only views as options.
 * Satisfies the daemon's AdminLayer {start, close, destroy}.
 */
export class AdminServer {
  private metricsApp?: App;
  private debugApp?: App;
  private readonly log: Logger;
  private closing?: Promise<void>;
  /** Bound ports (useful when the config asked for port 0). */
  metricsPort = 0;
  debugPort = 0;

  constructor(
    private readonly daemon: AdminDaemonView,
    opts: AdminOptions = {},
  ) {
    this.log = (opts.logger ?? createSilentLogger()).child({ component: 'admin' });
  }

  async start(): Promise<void> {
    if (this.metricsApp) return;
    const d = this.daemon;
    const cfg = d.cfg.admin;
    ensureAdminMetrics(d.metrics, d.authority, d.xds);

    const metrics = makeApp(this.log);
    await metrics.register(metricsPlugin, { registry: d.metrics });
    this.metricsApp = metrics;

    const debug = makeApp(this.log);
    await debug.register(healthPlugin, {
      readiness: () => d.readiness(),
      clock: d.clock,
      startedAt: d.startedAt,
      jwks: () => d.auth.jwks(),
    });
    await debug.register(debugPlugin, { daemon: d, token: cfg.debugToken, logger: this.log });
    this.debugApp = debug;

    // The admin ports' connections come out of runtime.fdReserve (docs/reliability.md): capped apiece.
    const admission = new ConnectionAdmission({ maxConnections: ADMIN_MAX_CONNECTIONS, metrics: d.metrics });
    admission.attach(metrics.server, 'metrics');
    admission.attach(debug.server, 'debug');
    this.metricsPort = await listen(metrics, cfg.metricsListen);
    this.debugPort = await listen(debug, cfg.debugListen);
    this.log.info(
      {
        metrics: `${parseListen(cfg.metricsListen).host}:${this.metricsPort}`,
        debug: `${parseListen(cfg.debugListen).host}:${this.debugPort}`,
        debugAuth: cfg.debugToken ? 'bearer' : 'none',
      },
      'admin servers listening',
    );
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([this.metricsApp?.close(), this.debugApp?.close()]);
    })();
    return this.closing;
  }

  /** Drops every open connection now; a later close() just awaits the same shutdown. */
  destroy(): void {
    for (const app of [this.metricsApp, this.debugApp]) app?.server.closeAllConnections();
    this.closing ??= (async () => {
      await Promise.all([this.metricsApp?.close(), this.debugApp?.close()]);
    })();
    this.closing.catch((err: unknown) => this.log.warn({ err }, 'admin destroy'));
  }
}

/** Concurrent connections per admin port (scrapers, probes, `ambientd check`): 2 x 64 of the 256 reserved. */
export const ADMIN_MAX_CONNECTIONS = 64;

async function listen(app: App, where: string): Promise<number> {
  const { host, port } = parseListen(where);
  await app.listen({ host, port });
  return (app.server.address() as AddressInfo).port;
}

/**
 * The DaemonDeps.admin factory. Logs through `daemon.logger` when the daemon
 * exposes one; the Daemon keeps its logger private today, so cmd/ should wire
 * `adminWithLogger(rootLogger)` to get admin logs (otherwise they are dropped).
 */
export function createAdmin(daemon: AdminDaemonView & { logger?: Logger }): AdminServer {
  return new AdminServer(daemon, { logger: daemon.logger });
}

/** A DaemonDeps.admin factory that logs through the given root logger. */
export function adminWithLogger(logger: Logger): (daemon: AdminDaemonView) => AdminServer {
  return (daemon) => new AdminServer(daemon, { logger });
}
