import * as client from 'prom-client';
import { REFUSAL_REASONS } from './refusals';

/** Dial latency buckets (seconds): loopback connects take ~0.1 ms, a congested network tens of ms. */
const DIAL_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The gateway's Prometheus metrics, registered on an injected registry (no global default). */
export interface GatewayMetrics {
  connectionsAccepted: client.Counter;
  connectionsOpen: client.Gauge;
  tunnelsOpened: client.Counter;
  tunnelsOpen: client.Gauge;
  /** direction: to_destination (client → endpoint) | to_client. */
  bytes: client.Counter<'direction'>;
  refusals: client.Counter<'reason'>;
  dialSeconds: client.Histogram;
  xdsConnected: client.Gauge;
  certExpiry: client.Gauge;
  ready: client.Gauge;
}

export function gatewayMetrics(
  registry: client.Registry,
  live: () => { toDestination: number; toClient: number },
): GatewayMetrics {
  const registers = [registry];
  let reported = { toDestination: 0, toClient: 0 };
  const bytes = new client.Counter({
    name: 'ambientd_eastwest_tunnel_bytes_total',
    help: 'Bytes relayed, by direction (to_destination: caller to endpoint; to_client: endpoint to caller).',
    labelNames: ['direction'],
    registers,
    // Counted from the sockets at scrape time, so a long-lived tunnel's bytes show before it closes.
    collect() {
      const now = live();
      if (now.toDestination > reported.toDestination) {
        this.inc({ direction: 'to_destination' }, now.toDestination - reported.toDestination);
      }
      if (now.toClient > reported.toClient) this.inc({ direction: 'to_client' }, now.toClient - reported.toClient);
      reported = {
        toDestination: Math.max(now.toDestination, reported.toDestination),
        toClient: Math.max(now.toClient, reported.toClient),
      };
    },
  });
  const refusals = new client.Counter({
    name: 'ambientd_eastwest_refusals_total',
    help: 'Connections or CONNECT streams refused, by reason.',
    labelNames: ['reason'],
    registers,
  });
  for (const r of REFUSAL_REASONS) refusals.inc({ reason: r }, 0);
  return {
    connectionsAccepted: new client.Counter({
      name: 'ambientd_eastwest_connections_total',
      help: 'TLS connections accepted on the HBONE port (handshake done, caller trusted).',
      registers,
    }),
    connectionsOpen: new client.Gauge({
      name: 'ambientd_eastwest_connections_open',
      help: 'Open TCP connections on the HBONE port.',
      registers,
    }),
    tunnelsOpened: new client.Counter({
      name: 'ambientd_eastwest_tunnels_total',
      help: 'Tunnels established (200 sent).',
      registers,
    }),
    tunnelsOpen: new client.Gauge({ name: 'ambientd_eastwest_tunnels_open', help: 'Tunnels open now.', registers }),
    bytes,
    refusals,
    dialSeconds: new client.Histogram({
      name: 'ambientd_eastwest_dial_duration_seconds',
      help: 'TCP connect to <endpoint>:15008, successful or not.',
      buckets: DIAL_BUCKETS,
      registers,
    }),
    xdsConnected: new client.Gauge({
      name: 'ambientd_eastwest_xds_connected',
      help: '1 while the xDS stream to the daemon is up.',
      registers,
    }),
    certExpiry: new client.Gauge({
      name: 'ambientd_eastwest_cert_expiry_timestamp_seconds',
      help: "notAfter of the gateway's current certificate.",
      registers,
    }),
    ready: new client.Gauge({
      name: 'ambientd_eastwest_ready',
      help: '1 once a certificate is held and the first xDS sync is done.',
      registers,
    }),
  };
}
