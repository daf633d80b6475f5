import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FastCounter } from './fast-counter';

/**
 * xDS metrics under istiod's names so the Istio control-plane dashboard works
 * unchanged. Labels are bounded: `type` is a short type name (Address,
 * Authorization, …) from a fixed set, never a resource name.
 */
/** What the hot paths need of a histogram. */
export interface Observer {
  observe(value: number): void;
}

export interface XdsMetrics {
  clients: Gauge<'version'>;
  /** Per response per stream: a FastCounter. */
  pushes: FastCounter<'type'>;
  pushTime: Histogram<'type'>;
  /** Per response per stream: a FastHistogram. */
  sendTime: Observer;
  /** Per ACK per stream: a FastHistogram. */
  convergence: Observer;
  rejects: Counter<'type'>;
  expiredNonce: Counter<'type'>;
  pendingResets: Counter<'reason'>;
  /** Per ACK per stream: a FastHistogram. */
  propagation: Observer;
  /** xDS callers refused at authentication, by error code (a fixed catalogue). */
  authRefusals: Counter<'reason'>;
  /** Requests for a type URL this server does not serve. */
  unknownTypes: Counter;
  /** Warnings dropped by a log rate limit (the event itself is counted by its own metric). */
  logSuppressed: Counter<'kind'>;
  /** Times a stream's requests waited for its sustained name or byte rate (pkg/xds/request-pump.ts). */
  throttled: Counter<'rate'>;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createXdsMetrics(registry: Registry): XdsMetrics {
  const registers = [registry];
  return {
    clients: new Gauge({
      name: 'pilot_xds',
      help: 'Number of endpoints connected to this pilot using XDS.',
      labelNames: ['version'],
      registers,
    }),
    pushes: new FastCounter({
      name: 'pilot_xds_pushes',
      help: 'Pilot build and send errors for lds, rds, cds and eds.',
      labelName: 'type',
      registers,
    }),
    pushTime: new Histogram({
      name: 'pilot_xds_push_time',
      help: 'Total time in seconds Pilot takes to push lds, rds, cds and eds.',
      labelNames: ['type'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    sendTime: new FastHistogram({
      name: 'pilot_xds_send_time',
      help: 'Total time in seconds Pilot takes to send generated configuration.',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    convergence: new FastHistogram({
      name: 'pilot_proxy_convergence_time',
      help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    rejects: new Counter({
      name: 'pilot_total_xds_rejects',
      help: 'Total number of XDS responses from pilot rejected by proxy.',
      labelNames: ['type'],
      registers,
    }),
    expiredNonce: new Counter({
      name: 'pilot_xds_expired_nonce',
      help: 'Total number of XDS requests with an expired nonce.',
      labelNames: ['type'],
      registers,
    }),
    pendingResets: new Counter({
      name: 'ambientd_xds_stream_resets_total',
      help: 'xDS streams reset by the server, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    authRefusals: new Counter({
      name: 'ambientd_xds_auth_refusals_total',
      help: 'xDS streams refused at authentication, by reason code.',
      labelNames: ['reason'],
      registers,
    }),
    unknownTypes: new Counter({
      name: 'ambientd_xds_unknown_type_requests_total',
      help: 'xDS requests for a type URL this server does not serve.',
      registers,
    }),
    logSuppressed: new Counter({
      name: 'ambientd_xds_log_lines_suppressed_total',
      help: 'xDS warnings not logged because of log.repeatLimit, by kind (the events have their own counters).',
      labelNames: ['kind'],
      registers,
    }),
    throttled: new Counter({
      name: 'ambientd_xds_stream_throttled_total',
      help:
        "Times an xDS stream's requests waited for its sustained rate (xds.streamNamesPerSecond, " +
        'xds.streamBytesPerSecond), by rate.',
      labelNames: ['rate'],
      registers,
    }),
    propagation: new FastHistogram({
      name: 'ambientd_mesh_propagation_seconds',
      help: 'Time from a change at its origin (stamped by the originating daemon) to a local ztunnel ACKing it.',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
}

/**
 * A label-less histogram whose observe() is a bucket scan and three additions.
 * Why: prom-client's observe() hashes the (empty) label set and allocates per
 * call, and these three are observed once per stream per change — at 1,000
 * streams that was a measurable share of a fan-out. Exposed through the
 * registry in prom-client's histogram shape (registerMetric + get()), so the
 * exposition is the same text.
 */
export class FastHistogram implements Observer {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(cfg: { name: string; help: string; buckets: readonly number[]; registers: Registry[] }) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
    this.counts = new Float64Array(this.bounds.length + 1);
    for (const r of cfg.registers) r.registerMetric(this); // custom-metric.ts: what the registry reads
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  get(): {
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!;
      values.push({ labels: { le: this.bounds[i]! }, value: acc, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    this.counts = new Float64Array(this.bounds.length + 1);
    this.sum = 0;
    this.count = 0;
  }
}

/** Bounded label value for a type URL. */
export function shortType(typeUrl: string): string {
  const i = typeUrl.lastIndexOf('.');
  const s = i >= 0 ? typeUrl.slice(i + 1) : typeUrl;
  return /^[A-Za-z]{1,40}$/.test(s) ? s : 'other';
}
