import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../log';
import { bearerHook } from './bearer';
import * as reports from './reports';
import type { AdminDaemonView } from './views';

export interface DebugPluginOptions {
  daemon: AdminDaemonView;
  /** When non-empty every route in this scope requires `Authorization: Bearer <token>`. */
  token: string;
  logger: Logger;
}

export const DEBUG_ROUTES = [
  '/debug/registryz',
  '/debug/configz',
  '/debug/syncz',
  '/debug/config_dump',
  '/debug/peers',
  '/debug/certz',
  '/debug/connections',
  '/debug/jwks',
] as const;

/** The JSON debug documents (docs/admin.md). Encapsulated: its auth hook does not leak to the probes. */
export const debugPlugin: FastifyPluginAsync<DebugPluginOptions> = async (app, opts) => {
  const d = opts.daemon;
  if (opts.token) app.addHook('onRequest', bearerHook(opts.token, opts.logger));
  app.get('/debug', async () => ({ endpoints: DEBUG_ROUTES }));
  app.get('/debug/registryz', async () => reports.registryz(d.registry.snapshot()));
  app.get('/debug/configz', async () => reports.configz(d));
  app.get('/debug/syncz', async () => reports.syncz(d));
  app.get<{ Querystring: { node?: string } }>('/debug/config_dump', async (req, reply) => {
    const r = reports.configDump(d, req.query.node);
    return reply.code(r.status).send(r.body);
  });
  app.get('/debug/peers', async () => reports.peers(d));
  app.get('/debug/certz', async () => reports.certz(d));
  app.get('/debug/connections', async () => reports.connections(d));
  app.get('/debug/jwks', async () => d.auth.jwks());
};
