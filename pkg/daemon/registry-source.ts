import * as path from 'node:path';
import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import { FileSource, type IngestGate, type LocalRegistry } from '../registry';
import { KubeClient, KubeSource, createKubeMetrics, resolveClientConfig, type KubeMetrics } from '../kube';
import type { DaemonComponent } from './daemon';
import { StartupError } from './errors';
import { ParkedSink } from './parked-sink';

/** The registry source buildDaemon constructs from registry.*: a directory of manifests or a Kubernetes API. */
export interface RegistrySource {
  source: FileSource | KubeSource;
  /** In-cluster: the API client and the metrics shared by the source, the lease and the status writer. */
  kube?: { api: KubeClient; metrics: KubeMetrics };
  /** The source's gate (file edits, Kubernetes watch events): the push component connects the pusher while it runs. */
  gate: GateRelay;
}

/**
 * The registry source's IngestGate: the pusher while the push component runs (edits and watch events are applied at
 * the next push); before it starts and after it closes, each is applied at once, as without a gate.
 */
export class GateRelay implements IngestGate {
  private target: IngestGate | undefined;

  connect(target: IngestGate | undefined): void {
    this.target = target;
  }

  defer(drain: () => void): void {
    if (this.target) this.target.defer(drain);
    else drain();
  }
}

/** Constructs the source (no I/O yet); a kubeconfig that cannot be resolved is a StartupError. */
export function registrySource(
  cfg: DaemonConfig,
  registry: LocalRegistry,
  d: { logger: Logger; clock: Clock; metrics: Registry },
): RegistrySource {
  if (cfg.registry.type === 'file') {
    const r = cfg.registry;
    const gate = new GateRelay();
    return {
      gate,
      source: new FileSource({
        gate,
        dir: path.resolve(r.dir),
        registry,
        logger: d.logger.child({ component: 'file-source' }),
        clock: d.clock,
        metrics: d.metrics,
        maxFileBytes: r.maxFileBytes,
        parseLimits: { maxNodes: r.maxNodes, maxAliases: r.maxAliases, maxDepth: r.maxDepth },
        parseTimeoutMs: r.parseTimeout,
        parserHeapMb: r.parserHeapMb,
      }),
    };
  }
  let api: KubeClient;
  try {
    api = new KubeClient(
      resolveClientConfig({
        kubeconfig: cfg.registry.kubeconfig || undefined,
        context: cfg.registry.context || undefined,
        inCluster: cfg.registry.apiHost ? { host: cfg.registry.apiHost, port: cfg.registry.apiPort } : undefined,
      }),
      d.clock,
    );
  } catch (e) {
    throw new StartupError(`registry: kubernetes: ${(e as Error).message}`);
  }
  // One metrics object shared by the source, the lease and the status writer (registering twice throws).
  const metrics = createKubeMetrics(d.metrics);
  const gate = new GateRelay();
  const source = new KubeSource({
    api,
    sink: new ParkedSink(registry, gate),
    logger: d.logger.child({ component: 'kube-source' }),
    metrics,
    ownsApi: true,
  });
  return { source, kube: { api, metrics }, gate };
}

/** The registry source; in-cluster, start resolves once every kind has listed (bounded by registry.syncTimeout). */
export function sourceComponent(cfg: DaemonConfig, source: FileSource | KubeSource, logger: Logger): DaemonComponent {
  return {
    name: 'registry-source',
    async start() {
      await source.start();
      if (source instanceof KubeSource) {
        // Like istiod's cache sync: serve once every kind has listed (bounded; readiness reports the rest).
        const synced = await source.whenSynced(cfg.registry.syncTimeout);
        if (!synced) logger.warn('Kubernetes registry not fully synced at start-up; serving what is listed so far');
      }
    },
    close: () => source.close(),
    destroy: () => source.destroy(),
  };
}
