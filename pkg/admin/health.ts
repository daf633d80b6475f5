import type { FastifyPluginAsync } from 'fastify';
import type { ClockView, Readiness } from './views';

export interface HealthPluginOptions {
  readiness: () => Readiness;
  clock: ClockView;
  startedAt: number;
  jwks: () => unknown;
}

/**
 * Probes and public keys: no secrets, so they stay reachable without the
 * debug bearer token (kubelet probes and JWT verifiers carry none), like
 * istiod's /ready on 8080.
 */
export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, opts) => {
  // 503 until the registry has loaded, the CA serves and persisted peer state is restored.
  app.get('/ready', async (_req, reply) => {
    const r = opts.readiness();
    return reply.code(r.ready ? 200 : 503).send({ ready: r.ready, reasons: r.reasons });
  });
  // Liveness: the event loop answers.
  app.get('/healthz', async () => ({
    status: 'ok',
    uptimeSeconds: Math.floor((opts.clock.now() - opts.startedAt) / 1000),
  }));
  // The bootstrap issuer's public JWKS (verifiers of ambientd-minted tokens).
  app.get('/.well-known/jwks.json', async () => opts.jwks());
};
