import * as http from 'node:http';
import type { Registry } from 'prom-client';
import { bindServer } from './bind-server';

export interface AdminRoutes {
  metrics: Registry;
  ready: () => { ready: boolean; why?: string };
  /** Debug routes (path → JSON body); served only on the debug listener. */
  debug: Record<string, () => unknown>;
}

/** Bounds of the admin listeners: a scraper or an operator, never many callers. */
const ADMIN_MAX_CONNECTIONS = 64;
const ADMIN_TIMEOUT_MS = 10_000;

/**
 * Two small HTTP listeners, as Istio proxies have: the public one with
 * GET /metrics (Prometheus; /stats/prometheus as an alias, Istio's path) and
 * GET /healthz/ready; the loopback-only one with the debug routes.
 */
export class AdminServer {
  private readonly servers: http.Server[] = [];

  constructor(private readonly r: AdminRoutes) {}

  async listen(publicAddr: string, debugAddr: string): Promise<{ admin: number; debug: number }> {
    const admin = await this.start(publicAddr, false);
    const debug = await this.start(debugAddr, true);
    return { admin, debug };
  }

  private async start(addr: string, debug: boolean): Promise<number> {
    const opts = { requestTimeout: ADMIN_TIMEOUT_MS, headersTimeout: ADMIN_TIMEOUT_MS };
    const server = http.createServer(opts, (req, res) => void this.handle(req, res, debug));
    server.maxConnections = ADMIN_MAX_CONNECTIONS;
    server.keepAliveTimeout = 5_000;
    this.servers.push(server);
    return bindServer(server, addr);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, debug: boolean): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET') return void send(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/metrics' || path === '/stats/prometheus') {
        return void send(res, 200, this.r.metrics.contentType, await this.r.metrics.metrics());
      }
      if (path === '/healthz/ready') {
        const s = this.r.ready();
        return void send(res, s.ready ? 200 : 503, 'text/plain', s.ready ? 'ready\n' : `not ready: ${s.why ?? ''}\n`);
      }
      const d = debug ? this.r.debug[path] : undefined;
      if (d) return void send(res, 200, 'application/json', `${JSON.stringify(d(), null, 2)}\n`);
      send(res, 404, 'text/plain', 'not found\n');
    } catch (e) {
      send(res, 500, 'text/plain', `${(e as Error).message}\n`);
    }
  }

  close(): void {
    for (const s of this.servers) {
      s.close();
      s.closeAllConnections();
    }
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
