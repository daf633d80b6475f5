import type { Logger } from '../log';
import { systemClock, type Clock, type Component } from '../lifecycle';
import { KubeApiError, type KubeApi } from './client';
import { createKubeMetrics, type KubeMetrics } from './metrics';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface PeerCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export interface PeerGatewayStatus {
  gatewayNamespace: string;
  gatewayName: string;
  generation: number;
  conditions: PeerCondition[];
}

/** Supplied by the peering engine (structural; the daemon binds it). */
export interface PeerStatusProvider {
  peers(): PeerGatewayStatus[];
  onChange(cb: () => void): unknown;
}

/** Anything that says whether this replica may write (a LeaderElector, or always-true for one replica). */
export interface WriterElection {
  isLeader(): boolean;
  onChange(cb: (leader: boolean) => void): unknown;
}

export interface GatewayStatusWriterOptions {
  api: KubeApi;
  provider: PeerStatusProvider;
  logger: Logger;
  election?: WriterElection;
  clock?: Clock;
  metrics?: KubeMetrics;
  /** Coalesces bursts of provider changes. Default 100 ms. */
  debounceMs?: number;
  /** Re-reads every peer gateway this often, repairing conditions someone else dropped. Default 60 s. */
  resyncMs?: number;
}

interface MetaCondition extends PeerCondition {
  lastTransitionTime?: string;
  observedGeneration?: number;
}

interface GatewayObj {
  metadata?: { resourceVersion?: string; generation?: number };
  status?: { conditions?: MetaCondition[]; [k: string]: unknown };
}

const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * Merges our peer conditions into a Gateway's existing ones: conditions of
 * other types (upstream's Accepted/Programmed) are kept untouched; ours keep
 * their lastTransitionTime while their status is unchanged (metav1.Condition
 * semantics, as apimachinery's meta.SetStatusCondition does).
 */
export function mergeConditions(
  existing: MetaCondition[],
  ours: PeerCondition[],
  generation: number,
  nowMs: number,
): MetaCondition[] {
  const byType = new Map(existing.map((c) => [c.type, c]));
  const out = existing.filter((c) => !ours.some((o) => o.type === c.type));
  for (const o of ours) {
    const prev = byType.get(o.type);
    const ltt = prev && prev.status === o.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(nowMs);
    out.push({
      type: o.type,
      status: o.status,
      reason: o.reason,
      message: o.message,
      observedGeneration: generation,
      lastTransitionTime: ltt,
    });
  }
  return out;
}

function sameConditions(a: MetaCondition[], b: MetaCondition[]): boolean {
  if (a.length !== b.length) return false;
  const key = (c: MetaCondition) =>
    JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration ?? null, c.lastTransitionTime ?? null]);
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.every((x, i) => x === sb[i]);
}

/**
 * Writes per-peer conditions onto istio-remote Gateways through the status
 * subresource, only when they change, and only while this replica leads.
 * Single writer of the "last written" cache; the provider is only read.
 */
export class GatewayStatusWriter implements Component {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly metrics: KubeMetrics;
  /** ns/name → fingerprint of what we last saw/wrote there. */
  private readonly written = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private closed = false;
  private busy?: Promise<void>;
  private again = false;

  constructor(private readonly opts: GatewayStatusWriterOptions) {
    this.log = opts.logger.child({ component: 'kube-gateway-status' });
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics ?? createKubeMetrics();
  }

  async start(): Promise<void> {
    this.opts.provider.onChange(() => this.kick());
    this.opts.election?.onChange((leader) => {
      // A new leader cannot trust another replica's writes: re-check everything.
      this.written.clear();
      if (leader) this.kick();
    });
    const resync = () => {
      this.resyncTimer = setTimeout(() => {
        this.written.clear();
        this.kick();
        resync();
      }, this.opts.resyncMs ?? 60_000);
    };
    resync();
    this.kick();
  }

  private kick(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconcile();
    }, this.opts.debounceMs ?? 100);
  }

  /** Writes whatever differs now. Serialised: a call during a run schedules one more run. */
  async reconcile(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        if (this.closed || (this.opts.election && !this.opts.election.isLeader())) break;
        for (const p of this.opts.provider.peers()) {
          if (this.closed) break;
          await this.writeOne(p).catch((e: unknown) => {
            this.metrics.statusWrites.inc({ result: 'error' });
            this.log.warn(
              { gateway: `${p.gatewayNamespace}/${p.gatewayName}`, err: (e as Error).message },
              'gateway status write failed; will retry',
            );
            this.written.delete(`${p.gatewayNamespace}/${p.gatewayName}`);
            this.retryLater();
          });
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.busy = undefined;
    });
    return this.busy;
  }

  private retryLater(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconcile();
    }, 2_000);
  }

  private async writeOne(p: PeerGatewayStatus): Promise<void> {
    const key = `${p.gatewayNamespace}/${p.gatewayName}`;
    const fp = JSON.stringify([p.generation, p.conditions.map((c) => [c.type, c.status, c.reason, c.message])]);
    if (this.written.get(key) === fp) return;
    const path =
      `/apis/gateway.networking.k8s.io/v1/namespaces/${encodeURIComponent(p.gatewayNamespace)}` +
      `/gateways/${encodeURIComponent(p.gatewayName)}/status`;
    for (let attempt = 0; attempt < 3; attempt++) {
      let gw: GatewayObj;
      try {
        gw = await this.opts.api.json<GatewayObj>('GET', path);
      } catch (e) {
        if (e instanceof KubeApiError && e.httpStatus === 404) {
          this.log.debug({ gateway: key }, 'peer gateway gone; nothing to write');
          return;
        }
        throw e;
      }
      const existing = gw.status?.conditions ?? [];
      // A provider that does not track generations (0) gets the live object's.
      const merged = mergeConditions(
        existing,
        p.conditions,
        p.generation || gw.metadata?.generation || 0,
        this.clock.now(),
      );
      if (sameConditions(existing, merged)) {
        this.written.set(key, fp);
        this.metrics.statusWrites.inc({ result: 'unchanged' });
        return;
      }
      try {
        // A JSON merge patch replaces the conditions list whole, so the
        // resourceVersion precondition guards the read-modify-write.
        await this.opts.api.json('PATCH', path, {
          body: { metadata: { resourceVersion: gw.metadata?.resourceVersion }, status: { conditions: merged } },
          contentType: 'application/merge-patch+json',
        });
      } catch (e) {
        if (e instanceof KubeApiError && e.httpStatus === 409) continue;
        throw e;
      }
      this.written.set(key, fp);
      this.metrics.statusWrites.inc({ result: 'written' });
      this.log.info(
        { gateway: key, conditions: p.conditions.map((c) => `${c.type}=${c.status}`) },
        'peer gateway status written',
      );
      return;
    }
    throw new KubeApiError(`PATCH ${path}: conflict three times in a row`, 409, 'PATCH', path);
  }

  async close(): Promise<void> {
    this.destroy();
    await this.busy;
  }

  destroy(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.timer = undefined;
  }
}
