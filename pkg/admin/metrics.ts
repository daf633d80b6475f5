import { Gauge, type Registry } from 'prom-client';
import type { FastifyPluginAsync } from 'fastify';
import { chainNotAfter } from '../ca';
import type { AuthorityView, XdsView } from './views';
import { clientKind, clusterOf } from './reports';

/**
 * Registers the CA expiry gauges unless a component already did (caserver
 * registers the same names; a registry refuses duplicates). Values are
 * computed at scrape time from the authority's public info(), so rotation
 * needs no bookkeeping. istiod names (security/pkg/server/ca/monitoring.go).
 */
export function ensureAdminMetrics(registry: Registry, authority: AuthorityView, xds?: XdsView): void {
  if (xds && !registry.getSingleMetric('ambientd_peer_inbound_streams')) {
    new Gauge({
      name: 'ambientd_peer_inbound_streams',
      help:
        'Open xDS streams from peer daemons importing from us, by the dialling cluster (self-reported) ' +
        'and the SPIFFE id that authenticated it. Series exist only while such a stream is open.',
      labelNames: ['cluster', 'spiffe_id'],
      registers: [registry],
      collect(this: Gauge<'cluster' | 'spiffe_id'>): void {
        // Rebuilt per scrape from the open streams: the label sets are bounded by the server's stream limit.
        this.reset();
        for (const s of xds.status()) {
          if (clientKind(s.nodeId) !== 'peer') continue;
          const id = s.identity as { spiffeId?: unknown } | undefined;
          const spiffe = typeof id?.spiffeId === 'string' ? id.spiffeId : '';
          this.inc({ cluster: clusterOf(s) ?? '', spiffe_id: spiffe });
        }
      },
    });
  }
  if (!registry.getSingleMetric('citadel_server_root_cert_expiry_timestamp')) {
    new Gauge({
      name: 'citadel_server_root_cert_expiry_timestamp',
      help: 'Unix seconds when the earliest-expiring root in the bundle expires.',
      registers: [registry],
      collect(this: Gauge): void {
        const roots = authority.info().roots;
        if (roots.length) this.set(Math.min(...roots.map((r) => r.notAfter)) / 1000);
      },
    });
  }
  if (!registry.getSingleMetric('citadel_server_cert_chain_expiry_timestamp')) {
    new Gauge({
      name: 'citadel_server_cert_chain_expiry_timestamp',
      help: 'Unix seconds when the CA signing certificate chain expires (earliest element).',
      registers: [registry],
      collect(this: Gauge): void {
        this.set(chainNotAfter(authority.info()) / 1000);
      },
    });
  }
}

export interface MetricsPluginOptions {
  registry: Registry;
}

/** GET /metrics in the Prometheus text format; nothing secret is ever registered here. */
export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, opts) => {
  const { registry } = opts;
  app.get('/metrics', async (_req, reply) => {
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(body);
  });
};
