import type { Server } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The seam a listening server calls to have its connections admitted: the
 * transport hands over its net.Server (an http2/tls server is one), and the
 * cap is enforced where the kernel hands connections to Node — net.Server's
 * maxConnections closes a connection over the cap before any TLS or HTTP/2
 * state exists for it, and emits 'drop', which is counted here.
 */
export interface ConnectionAdmissionHook {
  attach(server: Server, port: string): void;
}

export interface ConnectionAdmissionOptions {
  /** 0 = no cap. */
  maxConnections: number;
  metrics?: Registry;
}

const REFUSED = 'ambientd_connections_refused_total';
const MAX = 'ambientd_connections_max';

/**
 * One cap for the servers attached to it. Several instances (the gRPC port,
 * the admin ports) share the two metrics of one registry, told apart by the
 * port label.
 */
export class ConnectionAdmission implements ConnectionAdmissionHook {
  private readonly refused?: Counter;
  private readonly max?: Gauge;

  constructor(private readonly o: ConnectionAdmissionOptions) {
    const r = o.metrics;
    if (!r) return;
    const refused = r.getSingleMetric(REFUSED);
    this.refused =
      refused instanceof Counter
        ? refused
        : new Counter({
            name: REFUSED,
            help: 'Connections closed at accept because the port was at its connection cap (docs/reliability.md).',
            labelNames: ['port', 'reason'],
            registers: [r],
          });
    const max = r.getSingleMetric(MAX);
    this.max =
      max instanceof Gauge
        ? max
        : new Gauge({
            name: MAX,
            help: 'Connection cap of the port (0 = none).',
            labelNames: ['port'],
            registers: [r],
          });
  }

  get maxConnections(): number {
    return this.o.maxConnections;
  }

  attach(server: Server, port: string): void {
    this.max?.set({ port }, this.o.maxConnections);
    if (this.o.maxConnections <= 0) return;
    server.maxConnections = this.o.maxConnections;
    server.on('drop', () => this.refused?.inc({ port, reason: 'max_connections' }));
  }
}
