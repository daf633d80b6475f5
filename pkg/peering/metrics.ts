import { Counter, Gauge, type Registry } from 'prom-client';

/** Peer metrics; the peer label is bounded by the declared istio-remote Gateways. */
export interface PeeringMetrics {
  connected: Gauge<'peer'>;
  synced: Gauge<'peer'>;
  resources: Gauge<'peer' | 'type'>;
  terminations: Counter<'peer' | 'reason'>;
  lastSync: Gauge<'peer'>;
  nacks: Counter<'peer'>;
}

export function createPeeringMetrics(registry: Registry): PeeringMetrics {
  const registers = [registry];
  return {
    connected: new Gauge({ name: 'ambientd_peer_connected', help: '1 while the xDS stream to the peer is up.', labelNames: ['peer'], registers }),
    synced: new Gauge({ name: 'ambientd_peer_synced', help: '1 once the initial responses of the current (or last) stream were applied.', labelNames: ['peer'], registers }),
    resources: new Gauge({ name: 'ambientd_peer_resources', help: 'Resources held from the peer, by type.', labelNames: ['peer', 'type'], registers }),
    terminations: new Counter({ name: 'ambientd_peer_terminations_total', help: 'Peer stream terminations by reason.', labelNames: ['peer', 'reason'], registers }),
    lastSync: new Gauge({ name: 'ambientd_peer_last_sync_timestamp_seconds', help: 'Wall-clock time of the last completed sync with the peer.', labelNames: ['peer'], registers }),
    nacks: new Counter({ name: 'ambientd_peer_nacks_total', help: 'Responses from the peer that were NACKed (invalid resources).', labelNames: ['peer'], registers }),
  };
}
