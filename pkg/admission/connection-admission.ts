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

export class ConnectionAdmission implements ConnectionAdmissionHook {
  private readonly refused?: Counter;
  private readonly servers: { server: Server; port: string }[] = [];

  constructor(private readonly o: ConnectionAdmissionOptions) {
    if (!o.metrics) return;
    const servers = this.servers;
    this.refused = new Counter({
      name: 'ambientd_connections_refused_total',
      help: 'Connections closed at accept because the port was at its connection cap (runtime.maxConnections).',
      labelNames: ['port', 'reason'], registers: [o.metrics],
    });
    new Gauge({
      name: 'ambientd_connections_max', help: 'Connection cap of the port (0 = none).', labelNames: ['port'],
      registers: [o.metrics],
      collect(this: Gauge): void {
        for (const s of servers) this.set({ port: s.port }, o.maxConnections);
      },
    });
  }

  get maxConnections(): number {
    return this.o.maxConnections;
  }

  attach(server: Server, port: string): void {
    this.servers.push({ server, port });
    if (this.o.maxConnections <= 0) return;
    server.maxConnections = this.o.maxConnections;
    server.on('drop', () => this.refused?.inc({ port, reason: 'max_connections' }));
  }
}
