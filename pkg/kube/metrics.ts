import { Counter, Gauge, type Registry } from 'prom-client';

export interface KubeMetrics {
  lists: Counter<'kind'>;
  events: Counter<'kind' | 'type'>;
  relists: Counter<'kind' | 'reason'>;
  errors: Counter<'kind' | 'status'>;
  synced: Gauge<'kind'>;
  statusWrites: Counter<'result'>;
  leader: Gauge;
}

/** Module metrics, registered on the injected registry (none when absent). */
export function createKubeMetrics(registry?: Registry): KubeMetrics {
  const registers = registry ? [registry] : [];
  return {
    lists: new Counter({
      name: 'ambientd_kube_lists_total',
      help: 'Completed initial lists and relists per kind',
      labelNames: ['kind'],
      registers,
    }),
    events: new Counter({
      name: 'ambientd_kube_watch_events_total',
      help: 'Watch events received per kind and type',
      labelNames: ['kind', 'type'],
      registers,
    }),
    relists: new Counter({
      name: 'ambientd_kube_relists_total',
      help: 'Relists forced after the first list, by reason (gone, crd)',
      labelNames: ['kind', 'reason'],
      registers,
    }),
    errors: new Counter({
      name: 'ambientd_kube_errors_total',
      help: 'API errors seen by reflectors, by HTTP status (0 = network, stall)',
      labelNames: ['kind', 'status'],
      registers,
    }),
    synced: new Gauge({
      name: 'ambientd_kube_synced',
      help: '1 when the kind has completed its initial list',
      labelNames: ['kind'],
      registers,
    }),
    statusWrites: new Counter({
      name: 'ambientd_kube_gateway_status_writes_total',
      help: 'Gateway status PATCHes by result',
      labelNames: ['result'],
      registers,
    }),
    leader: new Gauge({
      name: 'ambientd_kube_leader',
      help: '1 while this replica holds the status-writer Lease',
      registers,
    }),
  };
}
