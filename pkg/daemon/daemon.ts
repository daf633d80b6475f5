import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import type { Clock, Component } from '../lifecycle';
import type { Wire } from '../wire';
import type { ResourceCache, XdsServer } from '../xds';
import type { GrpcServer } from '../transport';
import { FileSource, type LocalRegistry, type SourceHealth } from '../registry';
import type { KubeSource } from '../kube';
import type { MeshContext } from '../translate';
import type { Authority, ServingIdentity } from '../ca';
import type { CallerIdentity } from '../auth';
import type { PeeringLayer } from '../peering';
import type { DaemonAuth } from './auth';
import { StartupError } from './errors';
import { diffPaths, meshContext } from './helpers';

/** The admin surface as the daemon composes it; started after the gRPC port, closed first. */
export interface AdminLayer {
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

export interface DaemonAddresses {
  grpcPort: number;
}

/** A long-lived part of the daemon, named for logs and for the start/close order. */
export interface DaemonComponent extends Component {
  readonly name: string;
}

/** Everything a daemon is made of, fully built (buildDaemon). Nothing here is started yet. */
export interface DaemonParts {
  readonly cfg: DaemonConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Injected Prometheus registry (one per daemon; tests run several in one process). */
  readonly metrics: Registry;
  readonly wire: Wire;
  readonly startedAt: number;
  readonly cache: ResourceCache;
  readonly registry: LocalRegistry;
  readonly authority: Authority;
  readonly serving: ServingIdentity;
  readonly auth: DaemonAuth;
  readonly xds: XdsServer<CallerIdentity>;
  readonly grpc: GrpcServer;
  readonly source: FileSource | KubeSource;
  /** The peering layer (multicluster); absent = single cluster. */
  readonly peering?: PeeringLayer;
  /** Started in this order, closed in reverse. */
  readonly components: readonly DaemonComponent[];
  /** Re-reads the configuration for SIGHUP (cmd/ provides it); throws ConfigError when invalid. */
  readonly reloadConfig?: () => DaemonConfig;
}

/**
 * Composition only: holds the parts buildDaemon made, starts its components in
 * order and closes them in reverse. No protocol or translation logic lives here.
 */
export class Daemon {
  readonly cfg: DaemonConfig;
  readonly metrics: Registry;
  readonly wire: Wire;
  readonly cache: ResourceCache;
  readonly registry: LocalRegistry;
  readonly clock: Clock;
  readonly startedAt: number;
  readonly authority: Authority;
  readonly serving: ServingIdentity;
  readonly xds: XdsServer<CallerIdentity>;
  readonly auth: DaemonAuth;
  readonly peering?: PeeringLayer;
  readonly admin?: AdminLayer;
  /** Started in this order by start(), closed in reverse by close(). */
  readonly components: readonly DaemonComponent[];
  private readonly grpc: GrpcServer;
  private readonly source: FileSource | KubeSource;
  private readonly log: Logger;
  private readonly reloadConfig?: () => DaemonConfig;
  private starting?: Promise<void>;
  private closing?: Promise<void>;

  /** `admin` builds the HTTP admin surface over read-only views of this daemon; it starts last. */
  constructor(parts: DaemonParts, admin?: (daemon: Daemon) => AdminLayer) {
    this.cfg = parts.cfg;
    this.log = parts.logger;
    this.clock = parts.clock;
    this.metrics = parts.metrics;
    this.wire = parts.wire;
    this.startedAt = parts.startedAt;
    this.cache = parts.cache;
    this.registry = parts.registry;
    this.authority = parts.authority;
    this.serving = parts.serving;
    this.auth = parts.auth;
    this.xds = parts.xds;
    this.grpc = parts.grpc;
    this.source = parts.source;
    this.peering = parts.peering;
    this.reloadConfig = parts.reloadConfig;
    // Last: the admin factory reads the fields above.
    this.admin = admin?.(this);
    this.components = this.admin ? [...parts.components, adminComponent(this.admin, this.cfg)] : parts.components;
  }

  /** The mesh context; the network comes from config or the system namespace's topology label. */
  get mesh(): MeshContext {
    return meshContext(this.cfg, this.registry.snapshot());
  }

  /** Starts every component in order (once; a second call waits for the first). */
  async start(): Promise<DaemonAddresses> {
    this.starting ??= this.startComponents();
    await this.starting;
    return { grpcPort: this.grpc.port };
  }

  private async startComponents(): Promise<void> {
    for (const c of this.components) await c.start();
    const cfg = this.cfg;
    const serving = { grpcPort: this.grpc.port, cluster: cfg.clusterId, trustDomain: cfg.trustDomain };
    this.log.info(serving, 'ambientd serving');
  }

  /**
   * SIGHUP: re-read the config and the registry directory. Settings that can
   * change live (log level) are applied; the rest are reported as needing a
   * restart and NOT half-applied. An invalid config is rejected whole.
   */
  async reload(): Promise<{ applied: string[]; needRestart: string[]; error?: string }> {
    const applied: string[] = [];
    const needRestart: string[] = [];
    if (this.reloadConfig) {
      let next: DaemonConfig;
      try {
        next = this.reloadConfig();
      } catch (e) {
        const error = (e as Error).message;
        this.log.error({ error }, 'reload: new configuration rejected; keeping the running one');
        return { applied, needRestart, error };
      }
      // Compare with what is running, not with the start-up config, so a
      // reload can also bring log.level back to its original value.
      for (const p of diffPaths(this.cfg, next)) if (p !== 'log.level') needRestart.push(p);
      if (next.log.level !== this.log.level) {
        this.log.level = next.log.level;
        applied.push('log.level');
      }
      if (needRestart.length) {
        this.log.warn({ settings: needRestart }, 'reload: these settings change only after a restart');
      }
    }
    if (this.source instanceof FileSource) await this.source.scan();
    this.log.info({ applied }, 'reloaded');
    return { applied, needRestart };
  }

  get grpcPort(): number {
    return this.grpc.port;
  }

  /** Health of the registry source(s): what could not be read or was refused (objects kept). */
  sources(): SourceHealth[] {
    return this.source instanceof FileSource ? [this.source.health()] : [];
  }

  /** Ready once the registry loaded, the CA serves and the port is open. */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.registry.isLoaded()) {
      const problems = this.sources()
        .flatMap((h) => h.problems)
        .slice(0, 3)
        .map((p) => `${p.path}: ${p.reason}`);
      reasons.push(problems.length ? `registry not loaded (${problems.join('; ')})` : 'registry not loaded');
    }
    if (!this.grpc.port) reasons.push('gRPC server not listening');
    if (this.peering && !this.peering.restored()) reasons.push('persisted peer state not restored');
    return { ready: reasons.length === 0, reasons };
  }

  /**
   * Graceful, once: components close in reverse start order (admin, then the gRPC port ends streams so clients
   * reconnect elsewhere and lets unary calls finish, then push, peering, the registry source, the serving identity).
   * A component that fails to close does not keep the others open; the first failure is rethrown.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const failures: unknown[] = [];
      for (const c of [...this.components].reverse()) {
        try {
          await c.close();
        } catch (e) {
          this.log.warn({ component: c.name, err: e }, 'close failed');
          failures.push(e);
        }
      }
      if (failures.length) throw failures[0];
    })();
    return this.closing;
  }

  destroy(): void {
    for (const c of [...this.components].reverse()) c.destroy();
  }
}

function adminComponent(admin: AdminLayer, cfg: DaemonConfig): DaemonComponent {
  return {
    name: 'admin',
    async start() {
      try {
        await admin.start();
      } catch (e) {
        const where = `${cfg.admin.metricsListen}, ${cfg.admin.debugListen}`;
        throw new StartupError(`cannot start admin servers (${where}): ${(e as Error).message}`);
      }
    },
    close: () => admin.close(),
    destroy: () => admin.destroy(),
  };
}
