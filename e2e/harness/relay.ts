import * as net from 'node:net';

/**
 * A TCP relay in front of a daemon's port. It can cut every relayed
 * connection at once (a network drop: TLS and HTTP/2 torn down mid-stream;
 * e2e/chaos uses it for peer links) or silence them (sockets stay open,
 * nothing is read or forwarded, no FIN or RST: a connection that died
 * without its close reaching either end), without touching either process.
 */
export class Relay {
  private server?: net.Server;
  /** Open relayed connections: [inbound, outbound]. */
  private readonly pairs = new Set<readonly [net.Socket, net.Socket]>();
  port = 0;

  constructor(private readonly target: () => number) {}

  async start(): Promise<void> {
    this.server = net.createServer((inbound) => {
      const outbound = net.connect(this.target(), '127.0.0.1');
      const pair = [inbound, outbound] as const;
      this.pairs.add(pair);
      const done = (): void => {
        inbound.destroy();
        outbound.destroy();
        this.pairs.delete(pair);
      };
      inbound.on('error', done).on('close', done);
      outbound.on('error', done).on('close', done);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Stops forwarding and reading on every relayed connection, and closes none. */
  silence(): void {
    for (const [inbound, outbound] of this.pairs) {
      inbound.unpipe(outbound);
      outbound.unpipe(inbound);
      inbound.pause();
      outbound.pause();
    }
  }

  /** Drops every relayed connection; returns how many were open. */
  drop(): number {
    const n = this.pairs.size;
    for (const [inbound, outbound] of [...this.pairs]) {
      inbound.destroy();
      outbound.destroy();
    }
    this.pairs.clear();
    return n;
  }

  async close(): Promise<void> {
    this.drop();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
