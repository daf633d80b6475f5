import * as client from 'prom-client';
import { chainNotAfter, type Authority } from '../ca';

export interface CaMetrics {
  csr: client.Counter;
  issued: client.Counter;
  authFailures: client.Counter;
  refusals: client.Counter<'reason'>;
  signSeconds: client.Histogram;
}

/** Registers (or reuses, if this registry already has them) the CA server's metrics. */
export function caMetrics(registry: client.Registry, authority: Authority): CaMetrics {
  function get<T>(name: string, make: () => T): T {
    return (registry.getSingleMetric(name) as T | undefined) ?? make();
  }
  const registers = [registry];
  const m: CaMetrics = {
    // Names as istiod exports them (security/pkg/server/ca/monitoring.go), so dashboards carry over.
    csr: get(
      'citadel_server_csr_count',
      () => new client.Counter({ name: 'citadel_server_csr_count', help: 'CSRs received.', registers }),
    ),
    issued: get(
      'citadel_server_success_cert_issuance_count',
      () =>
        new client.Counter({
          name: 'citadel_server_success_cert_issuance_count',
          help: 'Certificates issued.',
          registers,
        }),
    ),
    authFailures: get(
      'citadel_server_authentication_failure_count',
      () =>
        new client.Counter({
          name: 'citadel_server_authentication_failure_count',
          help: 'CSRs refused because the caller did not authenticate.',
          registers,
        }),
    ),
    refusals: get(
      'ambientd_ca_refusals_total',
      () =>
        new client.Counter({
          name: 'ambientd_ca_refusals_total',
          help: 'CSRs refused, by reason code (auth.*, x509.*, ca.*).',
          labelNames: ['reason'] as const,
          registers,
        }),
    ),
    signSeconds: get(
      'ambientd_ca_csr_sign_duration_seconds',
      () =>
        new client.Histogram({
          name: 'ambientd_ca_csr_sign_duration_seconds',
          help: 'Time from request to signed chain, including authentication.',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
          registers,
        }),
    ),
  };
  // Expiry gauges are computed at scrape time from the Authority's public info().
  get(
    'citadel_server_root_cert_expiry_timestamp',
    () =>
      new client.Gauge({
        name: 'citadel_server_root_cert_expiry_timestamp',
        help: 'Unix seconds when the earliest-expiring root in the bundle expires.',
        registers,
        collect() {
          this.set(Math.min(...authority.info().roots.map((r) => r.notAfter)) / 1000);
        },
      }),
  );
  get(
    'citadel_server_cert_chain_expiry_timestamp',
    () =>
      new client.Gauge({
        name: 'citadel_server_cert_chain_expiry_timestamp',
        help: 'Unix seconds when the CA signing certificate chain expires (earliest element).',
        registers,
        collect() {
          this.set(chainNotAfter(authority.info()) / 1000);
        },
      }),
  );
  return m;
}
