import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * xDS metrics under istiod's names so the Istio control-plane dashboard works
 * unchanged. Labels are bounded: `type` is a short type name (Address,
 * Authorization, …) from a fixed set, never a resource name.
 */
export interface XdsMetrics {
  clients: Gauge<'version'>;
  pushes: Counter<'type'>;
  pushTime: Histogram<'type'>;
  sendTime: Histogram;
  convergence: Histogram;
  rejects: Counter<'type'>;
  expiredNonce: Counter<'type'>;
  pendingResets: Counter<'reason'>;
  propagation: Histogram;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createXdsMetrics(registry: Registry): XdsMetrics {
  const registers = [registry];
  return {
    clients: new Gauge({ name: 'pilot_xds', help: 'Number of endpoints connected to this pilot using XDS.', labelNames: ['version'], registers }),
    pushes: new Counter({ name: 'pilot_xds_pushes', help: 'Pilot build and send errors for lds, rds, cds and eds.', labelNames: ['type'], registers }),
    pushTime: new Histogram({ name: 'pilot_xds_push_time', help: 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', labelNames: ['type'], buckets: LATENCY_BUCKETS, registers }),
    sendTime: new Histogram({ name: 'pilot_xds_send_time', help: 'Total time in seconds Pilot takes to send generated configuration.', buckets: LATENCY_BUCKETS, registers }),
    convergence: new Histogram({ name: 'pilot_proxy_convergence_time', help: 'Delay in seconds between config change and a proxy receiving all required configuration.', buckets: LATENCY_BUCKETS, registers }),
    rejects: new Counter({ name: 'pilot_total_xds_rejects', help: 'Total number of XDS responses from pilot rejected by proxy.', labelNames: ['type'], registers }),
    expiredNonce: new Counter({ name: 'pilot_xds_expired_nonce', help: 'Total number of XDS requests with an expired nonce.', labelNames: ['type'], registers }),
    pendingResets: new Counter({ name: 'ambientd_xds_stream_resets_total', help: 'xDS streams reset by the server, by reason.', labelNames: ['reason'], registers }),
    propagation: new Histogram({ name: 'ambientd_mesh_propagation_seconds', help: 'Time from a change at its origin (stamped by the originating daemon) to a local ztunnel ACKing it.', buckets: LATENCY_BUCKETS, registers }),
  };
}

/** Bounded label value for a type URL. */
export function shortType(typeUrl: string): string {
  const i = typeUrl.lastIndexOf('.');
  const s = i >= 0 ? typeUrl.slice(i + 1) : typeUrl;
  return /^[A-Za-z]{1,40}$/.test(s) ? s : 'other';
}
