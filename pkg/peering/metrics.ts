import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Peer metrics; the peer label is bounded by the declared istio-remote Gateways. */
export interface PeeringMetrics {
  connected: Gauge<'peer'>;
  synced: Gauge<'peer'>;
  resources: Gauge<'peer' | 'type'>;
  terminations: Counter<'peer' | 'reason'>;
  lastSync: Gauge<'peer'>;
  nacks: Counter<'peer'>;
  /** Not per peer: one sample per (re)sync, the age of the oldest change it caught up on. */
  resyncAge: Histogram<never>;
}

/** Seconds to days: a resync after a long outage catches up on data that old. */
const RESYNC_AGE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400];

export function createPeeringMetrics(registry: Registry): PeeringMetrics {
  const registers = [registry];
  return {
    connected: new Gauge({
      name: 'ambientd_peer_connected',
      help: '1 while the xDS stream to the peer is up.',
      labelNames: ['peer'],
      registers,
    }),
    synced: new Gauge({
      name: 'ambientd_peer_synced',
      help: '1 once the initial responses of the current (or last) stream were applied.',
      labelNames: ['peer'],
      registers,
    }),
    resources: new Gauge({
      name: 'ambientd_peer_resources',
      help: 'Resources held from the peer, by type.',
      labelNames: ['peer', 'type'],
      registers,
    }),
    terminations: new Counter({
      name: 'ambientd_peer_terminations_total',
      help: 'Peer stream terminations by reason.',
      labelNames: ['peer', 'reason'],
      registers,
    }),
    lastSync: new Gauge({
      name: 'ambientd_peer_last_sync_timestamp_seconds',
      help: 'Wall-clock time of the last completed sync with the peer.',
      labelNames: ['peer'],
      registers,
    }),
    nacks: new Counter({
      name: 'ambientd_peer_nacks_total',
      help: 'Responses from the peer that were NACKed (invalid resources).',
      labelNames: ['peer'],
      registers,
    }),
    resyncAge: new Histogram({
      name: 'ambientd_peer_resync_age_seconds',
      help:
        'Per peer (re)sync that delivered changes: age of the oldest of them (origin stamp to sync). ' +
        'Kept out of ambientd_mesh_propagation_seconds, which counts live changes only.',
      buckets: RESYNC_AGE_BUCKETS,
      registers,
    }),
  };
}
