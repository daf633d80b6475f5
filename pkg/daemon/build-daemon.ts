import { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import { AfterBurst, systemClock, type Clock, type Component } from '../lifecycle';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION, type Wire } from '../wire';
import { ResourceCache, XdsServer, createXdsMetrics } from '../xds';
import { GrpcServer, RotatingServerCredentials, receiveBudgetGauges } from '../transport';
import { Encoder, Pusher } from '../push';
import { LocalRegistry, identitiesOnNode } from '../registry';
import { ServingIdentity, type Authority } from '../ca';
import { registerCaService } from '../caserver';
import { readTrustBundles, type CallerIdentity, type TrustAnchors, type TrustedIssuer } from '../auth';
import type { PeeringFactory, PeeringLayer } from '../peering';
import { ChangeAccumulator } from './changes';
import { pushPipeline } from './push-pipeline';
import { kubeTokenIssuer, peerStatusWriter } from './peer-status-writer';
import { buildAuth, buildTrustAnchors } from './auth';
import { StartupError } from './errors';
import { grpcServerOptions, xdsStreamOptions } from './grpc-options';
import { ensureWritableDir, meshContext, servingDnsNames, servingIps } from './helpers';
import { isZtunnel, ztunnelAcks } from './data-plane';
import { Daemon, type AdminLayer, type DaemonComponent } from './daemon';
import { registrySource, sourceComponent, type GateRelay, type RegistrySource } from './registry-source';
import { processMetrics } from './process-metrics';
import { caComponent, openAuthority } from './ca-component';

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

/**
 * Builds a complete daemon: every part constructed, nothing started (Daemon.start starts the components in
 * order). What needs I/O before the parts can exist happens here first: the state directory, the CA key
 * material, the first serving certificate (the TLS credentials and the peering layer are built over it), the
 * peer trust bundles and, in-cluster, the service-account token issuer. Failures are StartupErrors.
 */
export async function buildDaemon(cfg: DaemonConfig, deps: DaemonDeps): Promise<Daemon> {
  const logger = deps.logger;
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? new Registry();
  const startedAt = clock.now();
  ensureWritableDir(cfg.stateDir);
  processMetrics(metrics, clock, startedAt);
  // CA first: the serving identity depends on it.
  const authority = openAuthority(cfg, clock, logger);
  const [idNs, idSa] = cfg.ca.identity.split('/') as [string, string];
  const serving = new ServingIdentity({
    authority,
    logger,
    clock,
    request: {
      dnsNames: servingDnsNames(cfg),
      ipAddresses: servingIps(cfg.xds.listen),
      uri: `spiffe://${cfg.trustDomain}/ns/${idNs}/sa/${idSa}`,
    },
  });
  await serving.start();
  const registry = new LocalRegistry({ logger, clock });
  let source: RegistrySource | undefined;
  try {
    // Trust domain -> roots (mesh bundle for ours, peering.trustBundles for peers').
    let anchors: TrustAnchors;
    try {
      const peerRoots = readTrustBundles('peering.trustBundles', cfg.peering.trustBundles);
      const meshRoots = (): string => authority.rootBundlePem();
      anchors = buildTrustAnchors(cfg, peerRoots, meshRoots, () => serving.current().certChainPem);
    } catch (e) {
      throw new StartupError((e as Error).message);
    }
    source = registrySource(cfg, registry, { logger, clock, metrics });
    // In-cluster: ztunnel's projected service-account tokens verify against the cluster's own issuer.
    const extraIssuers: TrustedIssuer[] = [];
    if (source.kube && !cfg.auth.jwksFile && !cfg.auth.jwksUrl) {
      const iss = await kubeTokenIssuer(source.kube.api, { audiences: cfg.auth.audiences, logger, clock });
      if (iss) extraIssuers.push(iss);
    }
    return assemble({
      cfg,
      deps,
      logger,
      clock,
      metrics,
      wire: deps.wire ?? loadWire(),
      startedAt,
      authority,
      serving,
      registry,
      anchors,
      source,
      extraIssuers,
    });
  } catch (e) {
    source?.source.destroy();
    serving.destroy();
    authority.destroy();
    throw e;
  }
}

interface Assembly {
  cfg: DaemonConfig;
  deps: DaemonDeps;
  logger: Logger;
  clock: Clock;
  metrics: Registry;
  wire: Wire;
  startedAt: number;
  authority: Authority;
  serving: ServingIdentity;
  registry: LocalRegistry;
  anchors: TrustAnchors;
  source: RegistrySource;
  extraIssuers: readonly TrustedIssuer[];
}

/** Constructs every part from what buildDaemon loaded (no I/O, nothing started) and lists the components. */
function assemble(a: Assembly): Daemon {
  const { cfg, deps, logger, clock, metrics, wire, authority, serving, registry, anchors } = a;
  const cache = new ResourceCache({ maxTombstones: cfg.xds.maxTombstones });
  const material = () => {
    const c = serving.current();
    return { certChainPem: c.certChainPem, keyPem: c.keyPem, trustBundlePem: authority.rootBundlePem() };
  };
  // The peering layer asks for pushes and reads what ztunnels hold; both are built below and only
  // called once the daemon runs.
  const peering: PeeringLayer | undefined = deps.peering?.({
    cfg,
    logger: logger.child({ component: 'peering' }),
    clock,
    metrics,
    wire,
    snapshot: () => registry.snapshot(),
    onRegistryChange: (cb) => registry.onChange((c) => cb(c.byKind.keys())),
    identity: material,
    rootsFor: (td) => anchors.rootsFor(td),
    requestPush: () => pusher.notify(),
    dataPlane: () => ztunnelAcks(cache.seq, xds.status()),
    committedSeq: () => cache.seq,
  });

  // Push pipeline: registry changes -> debounce -> generate -> encode -> cache.
  const changes = new ChangeAccumulator();
  const types = new Map([
    [TYPE_ADDRESS, wire.Address],
    [TYPE_AUTHORIZATION, wire.Authorization],
    ...(peering?.exportTypes ?? []),
  ]);
  const builder = pushPipeline({
    encoder: new Encoder(wire, types),
    peering,
    snapshot: () => registry.snapshot(),
    mesh: () => meshContext(cfg, registry.snapshot()),
    takeChanges: () => changes.take(),
  });
  const collect = deps.collectGarbage;
  const burst =
    collect && cfg.runtime.gcAfterBurst > 0
      ? new AfterBurst({
          threshold: cfg.runtime.gcBurstResources,
          quietBelow: 1_000,
          quietMs: cfg.runtime.gcAfterBurst,
          run: collect,
          settled: () => xds.allInSync(),
        })
      : undefined;
  const pusher = new Pusher({
    committed: burst && ((n) => burst.note(n)),
    cache,
    logger,
    clock,
    registry: metrics,
    debounceAfterMs: cfg.xds.debounceAfter,
    debounceMaxMs: cfg.xds.debounceMax,
    debounceMode: cfg.xds.debounceMode,
    budgetShare: cfg.xds.pushBudgetPercent / 100,
    build: () => builder.build(),
  });

  // Authentication for xDS and CA callers (in-cluster: the service-account issuer too).
  const auth = buildAuth({
    extraIssuers: a.extraIssuers,
    cfg,
    logger,
    clock,
    anchors,
    extraTypeAuthz: peering ? (id, t) => peering.authorizeType(id, t) : undefined,
  });

  // One TLS port for ztunnel (server-auth) and peers/renewals (mTLS).
  // TLS verifies client certificates against every configured root; the
  // authenticator then checks each caller's anchor against its own trust domain.
  const serverMaterial = () => ({ ...material(), trustBundlePem: anchors.unionPem() });
  const credentials = new RotatingServerCredentials(serverMaterial());
  const grpc = new GrpcServer(
    grpcServerOptions(cfg, {
      credentials,
      logger,
      metrics,
      nofileSoftLimit: deps.nofileSoftLimit,
    }),
  );
  receiveBudgetGauges(metrics, () => grpc.receiveBudget());
  const xdsMetrics = createXdsMetrics(metrics);
  const xds: XdsServer<CallerIdentity> = new XdsServer({
    wire,
    cache,
    logger,
    clock,
    metrics: xdsMetrics,
    typeOrder: [...types.keys()],
    ...xdsStreamOptions(cfg),
    authenticate: (ctx) => auth.authenticator.authenticate(ctx),
    checkNode: (identity, node) => auth.checkNode(identity, node),
    authorizeType: (identity, typeUrl) => auth.authorizeType(identity, typeUrl),
    onAck: (s, _t, _lat, originAt) => {
      if (originAt !== undefined) xdsMetrics.propagation.observe(Math.max(0, clock.now() - originAt) / 1000);
      if (isZtunnel(s.nodeId)) peering?.onDataPlaneAck?.();
    },
    onFanoutEnd: () => pusher.settled(),
  });
  grpc.addService(xds.service());
  registerCaService(grpc, {
    authority,
    authenticator: auth.caAuthenticator,
    placement: { identitiesOnNode: (node: string) => identitiesOnNode(registry.snapshot(), node, cfg.trustDomain) },
    trustedNodeAccounts: cfg.ca.trustedNodeAccounts,
    maxTtlSeconds: Math.round(cfg.ca.maxTtl / 1000),
    logger,
    registry: metrics,
  });

  const kube = a.source.kube;
  const statusWriter =
    kube && peering
      ? peerStatusWriter({
          api: kube.api,
          logger: logger.child({ component: 'gateway-status' }),
          clock,
          metrics: kube.metrics,
          namespace: cfg.systemNamespace,
          // The Gateway's generation rides along so a spec bump re-stamps observedGeneration promptly.
          peers: () => {
            const gateways = registry.snapshot().gateways;
            return peering.status().map((p) => ({ ...p, generation: gateways.get(p.gateway)?.generation ?? 0 }));
          },
        })
      : undefined;

  const source = a.source.source;
  const components: DaemonComponent[] = [
    caComponent(a.authority),
    // Its first certificate was issued in buildDaemon (start() is idempotent); renewals run until close.
    named('serving-identity', serving),
    sourceComponent(cfg, source, logger),
    ...(peering ? [named('peering', peering)] : []),
    pushComponent(registry, changes, pusher, burst, a.source.gate),
    {
      name: 'grpc',
      async start() {
        // Rotations reach the TLS credentials from here on; one refresh covers a rotation since construction.
        serving.on('rotated', onRotate);
        onRotate();
        try {
          await grpc.start();
        } catch (e) {
          throw new StartupError(`cannot listen on ${cfg.xds.listen}: ${(e as Error).message}`);
        }
      },
      async close() {
        serving.off('rotated', onRotate);
        await xds.close();
        await grpc.close();
      },
      destroy() {
        serving.off('rotated', onRotate);
        xds.destroy();
        grpc.destroy();
      },
    },
    ...(statusWriter ? [named('peer-status', statusWriter)] : []),
  ];
  function onRotate(): void {
    credentials.update(serverMaterial());
  }
  return new Daemon(
    {
      cfg,
      logger,
      clock,
      metrics,
      wire,
      startedAt: a.startedAt,
      cache,
      registry,
      authority,
      serving,
      auth,
      xds,
      grpc,
      source,
      peering,
      components,
      reloadConfig: deps.reloadConfig,
    },
    deps.admin,
  );
}

function named(name: string, c: Component): DaemonComponent {
  return { name, start: () => c.start(), close: () => c.close(), destroy: () => c.destroy() };
}

/**
 * Registry changes feed the pusher from start on; the first state is built at start, before the port opens, so
 * no ztunnel ever sees a half-loaded mesh (the registry and peering components started before this one). From then
 * until close, the source's file edits and watch events wait for the next push (`gate`: FileSourceOptions.gate,
 * ParkedSink).
 */
function pushComponent(
  registry: LocalRegistry,
  changes: ChangeAccumulator,
  pusher: Pusher,
  burst: AfterBurst | undefined,
  gate: GateRelay,
): DaemonComponent {
  let unsubscribe: (() => void) | undefined;
  const stop = (): void => {
    gate.connect(undefined);
    unsubscribe?.();
    unsubscribe = undefined;
    burst?.close();
    pusher.close();
  };
  return {
    name: 'push',
    async start() {
      unsubscribe ??= registry.onChange((c) => {
        changes.add(c);
        pusher.notify();
      });
      pusher.pushNow();
      gate.connect(pusher);
    },
    async close() {
      stop();
    },
    destroy: stop,
  };
}
