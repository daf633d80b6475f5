import { Registry } from 'prom-client';
import { stripScheme, type EastwestConfig } from '../config';
import { readTrustBundles, TrustDomainRoots } from '../auth';
import { loadWire, type Wire } from '../wire';
import { systemClock, type Clock, type Component } from '../lifecycle';
import type { Logger } from '../log';
import { AdminServer } from './admin';
import { splitHostPort } from './bind-server';
import { Catalog } from './catalog';
import { CertSource, type GatewayIdentity } from './identity';
import { HboneListener } from './listener';
import { gatewayMetrics, type GatewayMetrics } from './metrics';
import { parseLocality, type RouteTable } from './routes';

export interface GatewayDeps {
  logger: Logger;
  metrics?: Registry;
  clock?: Clock;
  wire?: Wire;
  /** Port dialled on endpoints; 15008 unless a test points it elsewhere. */
  destinationPort?: number;
}

export interface GatewayPorts {
  hbone: number[];
  admin: number;
  debug: number;
}

/**
 * `ambientd eastwest`: one east-west gateway (docs/design/hbone.md). Wires
 * the certificate source (the daemon's CA), the catalog (the daemon's xDS),
 * the HBONE listener and the admin listeners; owns nothing else. Ready once it
 * holds a certificate and the first xDS state.
 */
export class EastWestGateway implements Component {
  readonly metrics: GatewayMetrics;
  readonly registry: Registry;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly cert: CertSource;
  private readonly catalog: Catalog;
  private readonly listener: HboneListener;
  private readonly admin: AdminServer;
  private roots = '';
  private started = false;
  private closed?: Promise<void>;
  ports?: GatewayPorts;

  constructor(
    private readonly cfg: EastwestConfig,
    deps: GatewayDeps,
  ) {
    this.log = deps.logger.child({ component: 'eastwest' });
    this.clock = deps.clock ?? systemClock;
    this.registry = deps.metrics ?? new Registry();
    this.metrics = gatewayMetrics(this.registry, () => this.listener.bytes());
    const extra = readTrustBundles('trustBundles', cfg.trustBundles);
    // Callers of our trust domain anchor in the mesh roots from the CA response; peers' in their bundles.
    const anchors = new TrustDomainRoots({ localTrustDomain: cfg.trustDomain, localRoots: () => this.roots, extra });
    const xds = splitHostPort(stripScheme(cfg.xds.address));
    const ca = splitHostPort(stripScheme(cfg.xds.caAddress || cfg.xds.address));
    this.cert = new CertSource({
      address: `${ca.host.includes(':') ? `[${ca.host}]` : ca.host}:${ca.port}`,
      serverName: cfg.xds.serverName,
      rootCaFile: cfg.xds.rootCa,
      tokenFile: cfg.xds.authToken,
      clusterId: cfg.clusterId,
      trustDomain: cfg.trustDomain,
      identity: cfg.identity,
      ttlMs: cfg.certTtl,
      clock: this.clock,
      logger: this.log,
      onRotate: (id) => this.rotated(id),
    });
    const locality = parseLocality(cfg.locality);
    this.listener = new HboneListener({
      limits: cfg.limits,
      anchors,
      routes: () => this.catalog.table,
      metrics: this.metrics,
      clock: this.clock,
      logger: this.log,
      ...(locality ? { locality } : {}),
      ...(deps.destinationPort ? { destinationPort: deps.destinationPort } : {}),
    });
    this.catalog = new Catalog({
      wire: deps.wire ?? loadWire(),
      host: xds.host,
      port: xds.port,
      serverName: cfg.xds.serverName,
      rootCaFile: cfg.xds.rootCa,
      tokenFile: cfg.xds.authToken,
      clusterId: cfg.clusterId,
      identity: cfg.identity,
      routes: {
        network: cfg.network,
        clusterId: cfg.clusterId,
        domainSuffix: cfg.domainSuffix,
        discoverySuffix: cfg.discoverySuffix,
      },
      clock: this.clock,
      logger: this.log,
      onTable: (t) => this.tableChanged(t),
      onConnected: (up) => this.metrics.xdsConnected.set(up ? 1 : 0),
    });
    this.admin = new AdminServer({
      metrics: this.registry,
      ready: () => this.readiness(),
      debug: {
        '/debug/tunnels': () => ({
          open: this.listener.tunnelCount,
          connections: this.listener.sessionCount,
          tunnels: this.listener.listTunnels(),
        }),
        '/debug/routes': () => routesView(this.catalog.table),
        '/debug/identity': () => {
          const id = this.cert.identity;
          if (!id) return {};
          return { spiffeId: id.spiffeId, notBefore: new Date(id.notBefore), notAfter: new Date(id.notAfter) };
        },
      },
    });
  }

  private rotated(id: GatewayIdentity): void {
    this.roots = id.rootsPem;
    this.metrics.certExpiry.set(id.notAfter / 1000);
    if (this.started) this.listener.rotate(id);
    this.updateReady();
  }

  private tableChanged(t: RouteTable): void {
    this.log.debug({ routes: t.routes.size }, 'routes updated');
    this.updateReady();
  }

  readiness(): { ready: boolean; why?: string } {
    if (this.listener.isDraining) return { ready: false, why: 'draining' };
    if (!this.cert.identity) return { ready: false, why: 'no certificate yet' };
    if (!this.catalog.synced) return { ready: false, why: 'no xDS state yet' };
    if (!this.started) return { ready: false, why: 'starting' };
    return { ready: true };
  }

  private updateReady(): void {
    this.metrics.ready.set(this.readiness().ready ? 1 : 0);
  }

  /** Certificate first (the listener cannot serve without it), then listeners and xDS. */
  async start(): Promise<void> {
    const ports = await this.admin.listen(this.cfg.admin.listen, this.cfg.admin.debugListen);
    const id = await this.cert.start();
    const hbone = await this.listener.listen(this.cfg.listen, id);
    this.ports = { hbone, ...ports };
    this.started = true;
    this.catalog.start();
    this.updateReady();
    this.log.info({ ports: this.ports, spiffeId: id.spiffeId }, 'east-west gateway listening');
  }

  /** Resolves once the gateway is ready (bounded by timeoutMs). */
  async whenReady(timeoutMs = 30_000): Promise<void> {
    const until = this.clock.monotonic() + timeoutMs;
    while (!this.readiness().ready) {
      if (this.clock.monotonic() > until) throw new Error(`not ready after ${timeoutMs} ms: ${this.readiness().why}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** SIGTERM: drain (no new tunnels; open ones may finish until the deadline), then stop. Idempotent. */
  close(deadlineMs = this.cfg.drainDeadline): Promise<void> {
    this.closed ??= (async () => {
      this.updateReady();
      this.log.info({ tunnels: this.listener.tunnelCount, deadlineMs }, 'draining');
      await this.listener.drain(deadlineMs);
      this.stopRest();
      this.log.info('stopped');
    })();
    return this.closed;
  }

  destroy(): void {
    this.listener.destroy();
    this.stopRest();
  }

  private stopRest(): void {
    this.catalog.close();
    this.cert.close();
    this.admin.close();
    this.metrics.ready.set(0);
  }

  get tunnelCount(): number {
    return this.listener.tunnelCount;
  }

  /** The current routes (read-only snapshot). */
  routes(): RouteTable['routes'] {
    return this.catalog.table.routes;
  }
}

function routesView(t: RouteTable): unknown {
  return [...t.routes.values()].map((r) => ({
    hostname: r.hostname,
    namespace: r.namespace,
    ports: [...r.ports].sort((a, b) => a - b),
    endpoints: r.endpoints.map((e) => ({ uid: e.uid, ip: e.ip, healthy: e.healthy })),
  }));
}
