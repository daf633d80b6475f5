import type { Registry } from 'prom-client';
import type { Logger } from '../log';
import type { Component } from '../lifecycle';
import type { KubeApi } from './client';
import { crdName, DEFAULT_KINDS, type KindSpec } from './kinds';
import { createKubeMetrics, type KubeMetrics } from './metrics';
import { Reflector, type ReflectorOptions, type ReflectorStatus, type RegistrySink } from './reflector';

type Obj = Record<string, unknown>;

export interface KubeSourceOptions {
  api: KubeApi;
  sink: RegistrySink;
  logger: Logger;
  metricsRegistry?: Registry;
  /** Pass a shared metrics object instead of a registry (when several sources share one registry). */
  metrics?: KubeMetrics;
  kinds?: readonly KindSpec[];
  /** Tuning shared by every reflector (page size, watch timeout, stall, backoff). */
  reflector?: Pick<
    ReflectorOptions,
    'pageSize' | 'watchTimeoutSeconds' | 'stallMs' | 'backoff' | 'crdPollMaxMs' | 'yieldEveryMs' | 'random'
  >;
  /**
   * Watch CustomResourceDefinitions so a CRD-backed kind starts the moment its
   * CRD is Established (default true). Without it (or without RBAC for it) the
   * reflector still polls with capped backoff.
   */
  watchCrds?: boolean;
  /**
   * close()/destroy() also close `api` (its keep-alive agent). Leave false when the status writer, lease or JWKS share
   * it.
   */
  ownsApi?: boolean;
}

export const CRD_KIND: KindSpec = {
  kind: 'CustomResourceDefinition',
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  namespaced: false,
  crd: false,
};

function established(o: Obj): boolean {
  const conds = (o.status as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? [];
  return conds.some((c) => c.type === 'Established' && c.status === 'True');
}

/**
 * The Kubernetes registry source: one reflector per watched kind, each
 * feeding the registry store under its own source id (`kube:<Kind>`).
 */
export class KubeSource implements Component {
  private readonly reflectors: Reflector[];
  private crdReflector?: Reflector;
  private readonly log: Logger;
  private started = false;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly api: KubeSourceOptions['api'];
  private readonly ownsApi: boolean;

  constructor(opts: KubeSourceOptions) {
    this.api = opts.api;
    this.ownsApi = opts.ownsApi ?? false;
    this.log = opts.logger.child({ component: 'kube' });
    const metrics = opts.metrics ?? createKubeMetrics(opts.metricsRegistry);
    // Every reflector reports its first complete list through markLoaded: that is when waiters on whenSynced()
    // are checked (after the reflector has marked itself synced, hence the microtask).
    const real = opts.sink;
    const sink: RegistrySink = {
      registerSource: (id) => real.registerSource(id),
      replaceSource: (id, objs) => real.replaceSource(id, objs),
      applyEvents: (id, evs) => real.applyEvents(id, evs),
      markLoaded: (id) => {
        real.markLoaded(id);
        queueMicrotask(() => this.settleSyncWaiters());
      },
    };
    const common = { api: opts.api, sink, logger: opts.logger, metrics, ...opts.reflector };
    this.reflectors = (opts.kinds ?? DEFAULT_KINDS).map((kind) => new Reflector({ ...common, kind }));
    const crdKinds = new Map(this.reflectors.filter((r) => r.kind.crd).map((r) => [crdName(r.kind), r]));
    if (crdKinds.size > 0 && opts.watchCrds !== false) {
      const onCrd = (o: Obj) => {
        const name = (o.metadata as { name?: string } | undefined)?.name;
        const r = name ? crdKinds.get(name) : undefined;
        if (r && established(o)) r.poke();
      };
      // The CRD watcher never writes to the store: its sink only wakes reflectors.
      const crdSink: RegistrySink = {
        registerSource: () => {},
        markLoaded: () => {},
        replaceSource: (_id, objs) => objs.forEach((x) => onCrd(x.obj)),
        applyEvents: (_id, evs) => evs.forEach((e) => e.type === 'upsert' && onCrd(e.obj)),
      };
      this.crdReflector = new Reflector({ ...common, sink: crdSink, kind: CRD_KIND });
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.log.info({ kinds: this.reflectors.map((r) => r.kind.kind) }, 'starting Kubernetes registry source');
    this.crdReflector?.start();
    for (const r of this.reflectors) r.start();
  }

  /** True once every kind completed its first list (or was found not installed). */
  synced(): boolean {
    return this.reflectors.every((r) => r.synced);
  }

  /**
   * Resolves true once every kind has listed, or with synced() after `timeoutMs` (or at close): istiod's
   * WaitForCacheSync, bounded. Awaited, not polled.
   */
  whenSynced(timeoutMs: number): Promise<boolean> {
    if (this.synced()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.synced());
      };
      const timer = setTimeout(() => {
        const i = this.syncWaiters.indexOf(done);
        if (i >= 0) this.syncWaiters.splice(i, 1);
        resolve(this.synced());
      }, timeoutMs);
      timer.unref();
      this.syncWaiters.push(done);
    });
  }

  private settleSyncWaiters(force = false): void {
    if (!force && !this.synced()) return;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  status(): ReflectorStatus[] {
    const all = this.reflectors.map((r) => r.status());
    if (this.crdReflector) all.push(this.crdReflector.status());
    return all;
  }

  async close(): Promise<void> {
    this.settleSyncWaiters(true);
    await Promise.all([...this.reflectors, ...(this.crdReflector ? [this.crdReflector] : [])].map((r) => r.close()));
    if (this.ownsApi) this.api.close();
  }

  destroy(): void {
    this.settleSyncWaiters(true);
    for (const r of this.reflectors) r.destroy();
    this.crdReflector?.destroy();
    if (this.ownsApi) this.api.close();
  }
}
