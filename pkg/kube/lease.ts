import type { Logger } from '../log';
import { systemClock, type Clock, type Component } from '../lifecycle';
import { KubeApiError, type KubeApi } from './client';
import type { KubeMetrics } from './metrics';

export interface LeaderElectorOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  /** Unique per replica (pod name + random suffix). */
  identity: string;
  logger: Logger;
  clock?: Clock;
  metrics?: KubeMetrics;
  /** client-go defaults used by istiod: 15 s / 10 s / 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  random?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** MicroTime as the API wants it: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * coordination.k8s.io/v1 Lease leader election (client-go's leaderelection):
 * try to acquire or renew every retry period; another holder's lease counts
 * as expired only after leaseDuration of LOCAL time without it changing
 * (observed time, immune to clock skew); a leader that cannot renew within
 * renewDeadline steps down. Optimistic concurrency via resourceVersion.
 */
export class LeaderElector implements Component {
  private leader = false;
  private closed = false;
  private timer?: NodeJS.Timeout;
  private observed?: { record: string; holder: string; at: number };
  private lastRenew = -Infinity;
  private running = false;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly path: string;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'kube-lease', lease: `${opts.namespace}/${opts.name}` });
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`;
  }

  isLeader(): boolean {
    return this.leader;
  }

  onChange(cb: (leader: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async start(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    void this.loop();
  }

  private get durationMs(): number {
    return this.opts.leaseDurationMs ?? 15_000;
  }

  private schedule(): void {
    if (this.closed) return;
    const retry = this.opts.retryPeriodMs ?? 2_000;
    // client-go's JitterUntil factor 1.2 for acquisition; renewals run on the plain period.
    const d = this.leader ? retry : retry * (1 + 0.2 * (this.opts.random ?? Math.random)());
    this.timer = setTimeout(() => void this.loop(), d);
  }

  private async loop(): Promise<void> {
    if (this.closed) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (e) {
      const forbidden = e instanceof KubeApiError && e.httpStatus === 403;
      this.log[forbidden ? 'error' : 'warn'](
        { err: (e as Error).message },
        forbidden
          ? 'RBAC: may not get/create/update leases in this namespace; cannot elect a status writer'
          : 'lease attempt failed',
      );
    }
    // A round still in flight when close()/destroy() ran must not revive leadership.
    if (this.closed) return;
    const now = this.clock.monotonic();
    if (ok) this.lastRenew = now;
    if (this.leader && !ok && now - this.lastRenew > (this.opts.renewDeadlineMs ?? 10_000))
      this.setLeader(false, 'renew deadline passed');
    else if (ok && !this.leader) this.setLeader(true, 'acquired');
    else if (!ok && this.leader && this.observed && this.observed.holder !== this.opts.identity)
      this.setLeader(false, 'lease taken');
    this.schedule();
  }

  private setLeader(v: boolean, why: string): void {
    if (this.leader === v) return;
    this.leader = v;
    this.opts.metrics?.leader.set(v ? 1 : 0);
    this.log.info({ identity: this.opts.identity, why }, v ? 'became leader' : 'lost leadership');
    for (const cb of this.listeners) cb(v);
  }

  /** One round. Returns true when we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const me = this.opts.identity;
    const nowWall = this.clock.now();
    const nowMono = this.clock.monotonic();
    const seconds = Math.round(this.durationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.opts.api.json<Lease>('GET', `${this.path}/${this.opts.name}`, {
        timeoutMs: this.opts.renewDeadlineMs ?? 10_000,
      });
    } catch (e) {
      if (!(e instanceof KubeApiError) || e.httpStatus !== 404) throw e;
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: {
          holderIdentity: me,
          leaseDurationSeconds: seconds,
          acquireTime: microTime(nowWall),
          renewTime: microTime(nowWall),
          leaseTransitions: 0,
        },
      };
      try {
        await this.opts.api.json('POST', this.path, { body: fresh });
      } catch (e2) {
        if (e2 instanceof KubeApiError && e2.httpStatus === 409) return false; // someone else created it first
        throw e2;
      }
      this.observed = { record: JSON.stringify(fresh.spec), holder: me, at: nowMono };
      return true;
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    const holder = spec.holderIdentity ?? '';
    if (!this.observed || this.observed.record !== record) this.observed = { record, holder, at: nowMono };
    const held = holder !== '' && holder !== me;
    const leaseMs = (spec.leaseDurationSeconds ?? seconds) * 1000;
    if (held && this.observed.at + leaseMs > nowMono) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: me,
        leaseDurationSeconds: seconds,
        renewTime: microTime(nowWall),
        acquireTime: holder === me ? (spec.acquireTime ?? microTime(nowWall)) : microTime(nowWall),
        leaseTransitions: holder === me ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const saved = await this.opts.api.json<Lease>('PUT', `${this.path}/${this.opts.name}`, {
        body: next,
        timeoutMs: this.opts.renewDeadlineMs ?? 10_000,
      });
      this.observed = { record: JSON.stringify(saved.spec ?? next.spec), holder: me, at: nowMono };
      return true;
    } catch (e) {
      if (e instanceof KubeApiError && e.httpStatus === 409) return false; // lost the race; re-read next round
      throw e;
    }
  }

  /** Steps down and releases the lease (client-go ReleaseOnCancel) so a peer takes over at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leader) return;
    this.setLeader(false, 'closing');
    try {
      const lease = await this.opts.api.json<Lease>('GET', `${this.path}/${this.opts.name}`, { timeoutMs: 5_000 });
      if (lease.spec?.holderIdentity === this.opts.identity) {
        const now = microTime(this.clock.now());
        await this.opts.api.json('PUT', `${this.path}/${this.opts.name}`, {
          body: {
            ...lease,
            spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
          },
          timeoutMs: 5_000,
        });
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'could not release the lease; it will expire');
    }
  }

  destroy(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.leader = false;
  }
}
