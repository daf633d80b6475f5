import * as path from 'node:path';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import { AfterBurst, systemClock, type Clock } from '../lifecycle';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION, type Wire } from '../wire';
import { ResourceCache, XdsServer, createXdsMetrics, type XdsMetrics } from '../xds';
import { GrpcServer, RotatingServerCredentials, receiveBudgetGauges } from '../transport';
import { Encoder, Pusher } from '../push';
import { LocalRegistry, FileSource, identitiesOnNode, type SourceHealth } from '../registry';
import type { MeshContext } from '../translate';
import { Authority, ServingIdentity } from '../ca';
import { KubeClient, KubeSource, createKubeMetrics, resolveClientConfig, type KubeMetrics } from '../kube';
import { ChangeAccumulator } from './changes';
import { pushPipeline } from './push-pipeline';
import { kubeTokenIssuer, peerStatusWriter } from './peer-status-writer';
import type { Component } from '../lifecycle';
import type { CallerIdentity, TrustedIssuer } from '../auth';
import { buildAuth, buildTrustAnchors, type DaemonAuth } from './auth';
import { StartupError } from './errors';
import { grpcServerOptions, xdsStreamOptions } from './grpc-options';
import { diffPaths, ensureWritableDir, servingDnsNames, servingIps } from './helpers';
import { isZtunnel, ztunnelAcks } from './data-plane';
import type { PeeringFactory, PeeringLayer } from '../peering';

export interface DaemonDeps {
  logger: Logger;
  clock?: Clock;
  /** Injected Prometheus registry (one per daemon; tests run several in one process). */
  metrics?: Registry;
  wire?: Wire;
  /**
   * Re-reads the configuration the daemon was started with (file + env +
   * flags) for SIGHUP; throws ConfigError when invalid. Provided by cmd/,
   * the only place that may read env and argv.
   */
  reloadConfig?: () => DaemonConfig;
  /** Builds the peering layer (multicluster); absent = single cluster. */
  peering?: PeeringFactory;
  /** Builds the HTTP admin surface (metrics, debug, health) over read-only views of this daemon. */
  admin?: (daemon: Daemon) => AdminLayer;
  /** One full JS collection (cmd/ provides it; see runtime.gcAfterBurst). */
  collectGarbage?: () => void;
  /** Soft RLIMIT_NOFILE of this process (cmd/ reads it); the gRPC connection cap is derived from it. */
  nofileSoftLimit?: number;
}

/** The admin surface as the daemon composes it; started after the gRPC port, closed first. */
export interface AdminLayer {
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

export interface DaemonAddresses {
  grpcPort: number;
}

/**
 * Composition only: builds every component in dependency order, starts them,
 * and tears them down in reverse. No protocol or translation logic lives here.
 */
/** prom-client defaults whose names break Prometheus naming rules (removed after registration). */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total',
];

export class Daemon {
  readonly metrics: Registry;
  readonly wire: Wire;
  readonly cache: ResourceCache;
  readonly registry: LocalRegistry;
  readonly clock: Clock;
  readonly startedAt: number;
  authority!: Authority;
  serving!: ServingIdentity;
  xds!: XdsServer<CallerIdentity>;
  auth!: DaemonAuth;
  peering?: PeeringLayer;
  admin?: AdminLayer;
  private grpc!: GrpcServer;
  private credentials!: RotatingServerCredentials;
  private source?: FileSource | KubeSource;
  private kubeApi?: KubeClient;
  private kubeMetrics?: KubeMetrics;
  private statusWriter?: Component;
  private pusher!: Pusher;
  private xdsMetrics!: XdsMetrics;
  private readonly changes = new ChangeAccumulator();
  private readonly log: Logger;
  private started = false;
  private closing?: Promise<void>;
  private unsubs: (() => void)[] = [];

  constructor(readonly cfg: DaemonConfig, private readonly deps: DaemonDeps) {
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.metrics = deps.metrics ?? new Registry();
    this.wire = deps.wire ?? loadWire();
    this.cache = new ResourceCache({ maxTombstones: cfg.xds.maxTombstones });
    this.registry = new LocalRegistry({ logger: this.log, clock: this.clock });
    this.startedAt = this.clock.now();
  }

  /** The mesh context; the network comes from config or the system namespace's topology label. */
  get mesh(): MeshContext {
    let network = this.cfg.network;
    if (!network) {
      const ns = this.registry.snapshot().namespaces.get(this.cfg.systemNamespace) as { labels?: Record<string, string> } | undefined;
      network = ns?.labels?.['topology.istio.io/network'] ?? '';
    }
    return {
      clusterId: this.cfg.clusterId,
      network,
      trustDomain: this.cfg.trustDomain,
      domainSuffix: this.cfg.domainSuffix,
      rootNamespace: this.cfg.systemNamespace,
    };
  }

  async start(): Promise<DaemonAddresses> {
    if (this.started) return { grpcPort: this.grpc.port };
    this.started = true;
    const cfg = this.cfg;
    ensureWritableDir(cfg.stateDir);
    collectDefaultMetrics({ register: this.metrics });
    // prom-client also exports the sums of nodejs_active_{handles,requests,resources} as gauges named
    // *_total, a suffix Prometheus reserves for counters (promtool lint). The labelled gauges of the
    // same names without the suffix stay; their sum over `type` is the same number.
    for (const name of MISNAMED_DEFAULT_GAUGES) this.metrics.removeSingleMetric(name);
    const clock = this.clock;
    const startedAt = this.startedAt;
    new Gauge({
      name: 'istiod_uptime_seconds', help: 'Current istiod server uptime in seconds', registers: [this.metrics],
      collect(this: Gauge): void {
        this.set((clock.now() - startedAt) / 1000);
      },
    });

    // CA first: the serving identity depends on it.
    try {
      this.authority = Authority.open({
        stateDir: cfg.stateDir, pluginDir: cfg.ca.dir || undefined, trustDomain: cfg.trustDomain,
        selfSignedKeyAlgorithm: cfg.ca.rootKeyType === 'ec' ? 'ec-p256' : 'rsa-2048',
        defaultTtlSeconds: Math.round(cfg.ca.defaultTtl / 1000), maxTtlSeconds: Math.round(cfg.ca.maxTtl / 1000),
        clock: this.clock, logger: this.log,
      });
    } catch (e) {
      throw new StartupError(`cannot load CA material${cfg.ca.dir ? ` from ${cfg.ca.dir}` : ''}: ${(e as Error).message}`);
    }
    const [idNs, idSa] = cfg.ca.identity.split('/') as [string, string];
    this.serving = new ServingIdentity({
      authority: this.authority,
      logger: this.log,
      clock: this.clock,
      request: {
        dnsNames: servingDnsNames(cfg),
        ipAddresses: servingIps(cfg.xds.listen),
        uri: `spiffe://${cfg.trustDomain}/ns/${idNs}/sa/${idSa}`,
      },
    });
    await this.serving.start();

    // Registry source.
    if (cfg.registry.type === 'file') {
      const r = cfg.registry;
      this.source = new FileSource({
        dir: path.resolve(r.dir), registry: this.registry, logger: this.log.child({ component: 'file-source' }),
        clock: this.clock, metrics: this.metrics, maxFileBytes: r.maxFileBytes,
        parseLimits: { maxNodes: r.maxNodes, maxAliases: r.maxAliases, maxDepth: r.maxDepth },
        parseTimeoutMs: r.parseTimeout, parserHeapMb: r.parserHeapMb,
      });
    } else {
      let api: KubeClient;
      try {
        api = new KubeClient(resolveClientConfig({
          kubeconfig: cfg.registry.kubeconfig || undefined,
          context: cfg.registry.context || undefined,
          inCluster: cfg.registry.apiHost ? { host: cfg.registry.apiHost, port: cfg.registry.apiPort } : undefined,
        }), this.clock);
      } catch (e) {
        throw new StartupError(`registry: kubernetes: ${(e as Error).message}`);
      }
      this.kubeApi = api;
      // One metrics object shared by the source, the lease and the status writer (registering twice throws).
      this.kubeMetrics = createKubeMetrics(this.metrics);
      this.source = new KubeSource({ api, sink: this.registry, logger: this.log.child({ component: 'kube-source' }), metrics: this.kubeMetrics, ownsApi: true });
    }

    // Push pipeline: registry changes -> debounce -> generate -> encode -> cache.
    const material = () => {
      const c = this.serving.current();
      return { certChainPem: c.certChainPem, keyPem: c.keyPem, trustBundlePem: this.authority.rootBundlePem() };
    };
    // Trust domain -> roots (mesh bundle for ours, peering.trustBundles for peers').
    let anchors: ReturnType<typeof buildTrustAnchors>;
    try {
      anchors = buildTrustAnchors(cfg, () => this.authority.rootBundlePem(), () => this.serving.current().certChainPem);
    } catch (e) {
      throw new StartupError((e as Error).message);
    }
    if (this.deps.peering) {
      this.peering = this.deps.peering({
        cfg, logger: this.log.child({ component: 'peering' }), clock: this.clock, metrics: this.metrics, wire: this.wire,
        snapshot: () => this.registry.snapshot(),
        onRegistryChange: (cb) => this.registry.onChange(() => cb()),
        identity: material,
        rootsFor: (td) => anchors.rootsFor(td),
        requestPush: () => this.pusher?.notify(),
        dataPlane: () => ztunnelAcks(this.cache.seq, this.xds?.status() ?? []),
        committedSeq: () => this.cache.seq,
      });
    }
    const types = new Map([[TYPE_ADDRESS, this.wire.Address], [TYPE_AUTHORIZATION, this.wire.Authorization], ...(this.peering?.exportTypes ?? [])]);
    const builder = pushPipeline({
      encoder: new Encoder(this.wire, types), peering: this.peering,
      snapshot: () => this.registry.snapshot(), mesh: () => this.mesh, takeChanges: () => this.changes.take(),
    });
    const collect = this.deps.collectGarbage;
    const burst = collect && cfg.runtime.gcAfterBurst > 0 ? new AfterBurst({
      threshold: cfg.runtime.gcBurstResources, quietBelow: 1_000, quietMs: cfg.runtime.gcAfterBurst, run: collect,
      settled: () => this.xds?.allInSync() ?? true,
    }) : undefined;
    if (burst) this.unsubs.push(() => burst.close());
    this.pusher = new Pusher({
      committed: burst && ((n) => burst.note(n)),
      cache: this.cache, logger: this.log, clock: this.clock, registry: this.metrics,
      debounceAfterMs: cfg.xds.debounceAfter, debounceMaxMs: cfg.xds.debounceMax, debounceMode: cfg.xds.debounceMode,
      build: () => builder.build(),
    });
    this.unsubs.push(this.registry.onChange((c) => {
      this.changes.add(c);
      this.pusher.notify();
    }));
    await this.source.start();
    if (this.source instanceof KubeSource) {
      // Like istiod's cache sync: serve once every kind has listed (bounded; readiness reports the rest).
      const synced = await this.source.whenSynced(cfg.registry.syncTimeout);
      if (!synced) this.log.warn('Kubernetes registry not fully synced at start-up; serving what is listed so far');
    }
    await this.peering?.start();
    // First state is built before the port opens, so no ztunnel ever sees a half-loaded mesh.
    this.pusher.pushNow();

    // Authentication for xDS and CA callers (in-cluster: the service-account issuer too).
    const extraIssuers: TrustedIssuer[] = [];
    if (this.kubeApi && !cfg.auth.jwksFile && !cfg.auth.jwksUrl) {
      const iss = await kubeTokenIssuer(this.kubeApi, {
        audiences: cfg.auth.audiences, logger: this.log, clock: this.clock,
      });
      if (iss) extraIssuers.push(iss);
    }
    this.auth = buildAuth({
      extraIssuers,
      cfg, logger: this.log, clock: this.clock, metrics: this.metrics, authority: this.authority,
      placement: { identitiesOnNode: (node: string) => identitiesOnNode(this.registry.snapshot(), node, cfg.trustDomain) },
      extraTypeAuthz: this.peering ? (id, t) => this.peering!.authorizeType(id, t) : undefined,
      anchors,
    });

    // One TLS port for ztunnel (server-auth) and peers/renewals (mTLS).
    // TLS verifies client certificates against every configured root; the
    // authenticator then checks each caller's anchor against its own trust domain.
    const serverMaterial = () => ({ ...material(), trustBundlePem: anchors.unionPem() });
    this.credentials = new RotatingServerCredentials(serverMaterial());
    const onRotate = (): void => this.credentials.update(serverMaterial());
    this.serving.on('rotated', onRotate);
    this.unsubs.push(() => this.serving.off('rotated', onRotate));
    this.grpc = new GrpcServer(grpcServerOptions(cfg, {
      credentials: this.credentials, logger: this.log, metrics: this.metrics, nofileSoftLimit: this.deps.nofileSoftLimit,
    }));
    const grpc = this.grpc;
    receiveBudgetGauges(this.metrics, () => grpc.receiveBudget());
    this.xdsMetrics = createXdsMetrics(this.metrics);
    this.xds = new XdsServer({
      wire: this.wire, cache: this.cache, logger: this.log, clock: this.clock, metrics: this.xdsMetrics,
      typeOrder: [...types.keys()],
      ...xdsStreamOptions(cfg),
      authenticate: (ctx) => this.auth.authenticator.authenticate(ctx),
      checkNode: (identity, node) => this.auth.checkNode(identity, node),
      authorizeType: (identity, typeUrl) => this.auth.authorizeType(identity, typeUrl),
      onAck: (s, _t, _lat, originAt) => {
        if (originAt !== undefined) this.xdsMetrics.propagation.observe(Math.max(0, this.clock.now() - originAt) / 1000);
        if (isZtunnel(s.nodeId)) this.peering?.onDataPlaneAck?.();
      },
    });
    this.grpc.addService(this.xds.service());
    this.grpc.addService(this.auth.caService);
    try {
      await this.grpc.start();
    } catch (e) {
      throw new StartupError(`cannot listen on ${cfg.xds.listen}: ${(e as Error).message}`);
    }
    if (this.kubeApi && this.peering) {
      const peering = this.peering;
      this.statusWriter = peerStatusWriter({
        api: this.kubeApi, logger: this.log.child({ component: 'gateway-status' }), clock: this.clock, metrics: this.kubeMetrics!,
        namespace: cfg.systemNamespace,
        // The Gateway's generation rides along so a spec bump re-stamps observedGeneration promptly.
        peers: () => {
          const gateways = this.registry.snapshot().gateways;
          return peering.status().map((p) => ({ ...p, generation: gateways.get(p.gateway)?.generation ?? 0 }));
        },
      });
      await this.statusWriter.start();
    }
    if (this.deps.admin) {
      this.admin = this.deps.admin(this);
      try {
        await this.admin.start();
      } catch (e) {
        throw new StartupError(`cannot start admin servers (${cfg.admin.metricsListen}, ${cfg.admin.debugListen}): ${(e as Error).message}`);
      }
    }
    this.log.info({ grpcPort: this.grpc.port, cluster: cfg.clusterId, trustDomain: cfg.trustDomain }, 'ambientd serving');
    return { grpcPort: this.grpc.port };
  }

  /**
   * SIGHUP: re-read the config and the registry directory. Settings that can
   * change live (log level) are applied; the rest are reported as needing a
   * restart and NOT half-applied. An invalid config is rejected whole.
   */
  async reload(): Promise<{ applied: string[]; needRestart: string[]; error?: string }> {
    const applied: string[] = [];
    const needRestart: string[] = [];
    if (this.deps.reloadConfig) {
      let next: DaemonConfig;
      try {
        next = this.deps.reloadConfig();
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
      if (needRestart.length) this.log.warn({ settings: needRestart }, 'reload: these settings change only after a restart');
    }
    if (this.source instanceof FileSource) await this.source.scan();
    this.log.info({ applied }, 'reloaded');
    return { applied, needRestart };
  }

  get grpcPort(): number {
    return this.grpc?.port ?? 0;
  }

  /** Health of the registry source(s): what could not be read or was refused (objects kept). */
  sources(): SourceHealth[] {
    return this.source instanceof FileSource ? [this.source.health()] : [];
  }

  /** Ready once the registry loaded, the CA serves and the port is open. */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.registry.isLoaded()) {
      const problems = this.sources().flatMap((h) => h.problems).slice(0, 3).map((p) => `${p.path}: ${p.reason}`);
      reasons.push(problems.length ? `registry not loaded (${problems.join('; ')})` : 'registry not loaded');
    }
    if (!this.grpc?.port) reasons.push('gRPC server not listening');
    if (this.peering && !this.peering.restored()) reasons.push('persisted peer state not restored');
    return { ready: reasons.length === 0, reasons };
  }

  /** Graceful: end streams (clients reconnect elsewhere), let unary calls finish, stop timers. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const u of this.unsubs.splice(0)) u();
      this.pusher?.close();
      await this.admin?.close();
      await this.statusWriter?.close();
      await this.peering?.close();
      await this.source?.close();
      await this.xds?.close();
      await this.grpc?.close();
      await this.serving?.close();
    })();
    return this.closing;
  }

  destroy(): void {
    for (const u of this.unsubs.splice(0)) u();
    this.pusher?.close();
    this.admin?.destroy();
    this.statusWriter?.destroy();
    this.peering?.destroy();
    this.source?.destroy();
    this.xds?.destroy();
    this.grpc?.destroy();
    this.serving?.destroy();
  }
}
