import { Histogram, Counter, type Registry } from 'prom-client';
import type { Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { ResourceCache, TypeCommit } from '../xds';
import { Debouncer, type DebounceMode, type DebounceTimers } from './debouncer';
import { PushBudget } from './push-budget';

export interface PushBuildResult {
  commits: TypeCommit[];
  /** Earliest origin stamp of the changes in this push (federated data), wall-clock ms. */
  originAt?: number;
}

export interface PusherOptions {
  cache: ResourceCache;
  logger: Logger;
  clock: Clock;
  registry: Registry;
  debounceAfterMs: number;
  debounceMaxMs: number;
  /** See DebounceMode; default `leading`. */
  debounceMode?: DebounceMode;
  /**
   * Share of the event loop (0–1, over a 1 s window) that pushes may keep busy before later ones are spaced out
   * (PushBudget); 0 or unset = none. A push's cost runs from its start to settled().
   */
  budgetShare?: number;
  /** Timer functions for the debouncer (tests); default Node's. */
  timers?: DebounceTimers;
  /** Snapshot + pure generators + encode; called once per debounced push. */
  build: () => PushBuildResult;
  /** Told after each commit how many resources it carried (upserts + removes). */
  committed?: (resources: number) => void;
}

/**
 * ingest -> debounce -> snapshot -> generators -> versioned cache. The pusher
 * is the cache's single writer. Events only poke the debouncer; the build
 * function reads the latest immutable snapshots, so bursts coalesce for free.
 */
export class Pusher {
  private readonly debouncer: Debouncer;
  private readonly debounceTime: Histogram;
  private readonly initTime: Histogram;
  private readonly failures: Counter;
  private readonly paced: Counter;
  private closed = false;
  /** Sources' parked work (defer()), run at the start of the next push; changes made meanwhile belong to it. */
  private readonly drains = new Set<() => void>();
  private draining = false;
  pushes = 0;

  constructor(private readonly o: PusherOptions) {
    const registers = [o.registry];
    this.debounceTime = new Histogram({
      name: 'pilot_debounce_time',
      help:
        'Delay in seconds between the first config enters debouncing ' +
        'and the merged push request is pushed into the push queue.',
      buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 10],
      registers,
    });
    this.initTime = new Histogram({
      name: 'pilot_pushcontext_init_seconds',
      help: 'Total time in seconds Pilot takes to init pushContext.',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.failures = new Counter({
      name: 'ambientd_push_failures_total',
      help: 'Pushes whose build failed (the last good state stays served).',
      registers,
    });
    this.paced = new Counter({
      name: 'ambientd_push_paced_total',
      help: 'Pushes that waited for the push budget (xds.pushBudgetPercent) after their debounce had ended.',
      registers,
    });
    const off = new Counter({
      name: 'ambientd_push_budget_off_total',
      help:
        'Times the push budget stopped holding pushes for a while because held pushes gained no change (changes ' +
        'that each wait for the previous one to arrive, or gaps in churn).',
      registers,
    });
    this.debouncer = new Debouncer({
      after: o.debounceAfterMs,
      max: o.debounceMaxMs,
      mode: o.debounceMode,
      clock: o.clock,
      timers: o.timers,
      budget: o.budgetShare ? new PushBudget(o.budgetShare, o.clock.monotonic(), 1000, () => off.inc()) : undefined,
      fire: () => this.push(),
    });
  }

  /**
   * Something changed upstream; a push will follow within the debounce bounds. Not while the push's own drains run
   * (defer()): what they change is in that push.
   */
  notify(): void {
    if (!this.closed && !this.draining) this.debouncer.poke();
  }

  /**
   * A source has changes to apply (pkg/registry IngestGate): `drain` runs once, at the start of the next push and
   * before its snapshot, so the changes that arrive while a push is held are applied one after another, then pushed
   * together. Counts as a change for the debounce now. Once closed, drained at once.
   */
  defer(drain: () => void): void {
    if (this.closed) {
      drain();
      return;
    }
    this.drains.add(drain);
    this.notify();
  }

  /** The last push's work is done (in the daemon: its fan-out pass ended); the budget charges its duration. */
  settled(): void {
    if (!this.closed) this.debouncer.settled();
  }

  /** Runs the parked drains (defer()); one that throws is logged and the others still run. */
  private runDrains(): void {
    if (this.drains.size === 0) return;
    const list = [...this.drains];
    this.drains.clear();
    this.draining = true;
    try {
      for (const drain of list) {
        try {
          drain();
        } catch (e) {
          this.o.logger.error({ component: 'push', err: e }, 'applying a source change failed');
        }
      }
    } finally {
      this.draining = false;
    }
    // Parked while draining: not in this push.
    if (this.drains.size > 0) this.debouncer.poke();
  }

  /** Builds and commits right now (start-up, tests). */
  pushNow(): void {
    this.debouncer.batchFirstAt = this.o.clock.monotonic();
    this.debouncer.batchPaced = false;
    this.push();
  }

  private push(): void {
    if (this.closed) return;
    const firstEvent = this.debouncer.batchFirstAt;
    const t0 = this.o.clock.monotonic();
    this.debounceTime.observe((t0 - firstEvent) / 1000);
    if (this.debouncer.batchPaced) this.paced.inc();
    this.runDrains();
    // The build's own time, without the sources' parked work.
    const tb = this.o.clock.monotonic();
    let result: PushBuildResult;
    try {
      result = this.o.build();
    } catch (e) {
      // Keep serving the last good state; the error is loud in logs and metrics.
      this.failures.inc();
      this.o.logger.error({ component: 'push', err: e }, 'push build failed; keeping last good state');
      this.debouncer.settled(); // nothing goes out
      return;
    }
    const t1 = this.o.clock.monotonic();
    this.initTime.observe((t1 - tb) / 1000);
    const seq = this.o.cache.seq;
    // A commit that changed nothing notifies no stream, so no fan-out pass will report this push's end.
    if (this.o.cache.commit(result.commits, { at: firstEvent, originAt: result.originAt }) === seq) {
      this.debouncer.settled();
    }
    this.pushes++;
    if (this.o.committed) {
      let n = 0;
      for (const c of result.commits) n += (c.upserts?.length ?? 0) + (c.removes?.length ?? 0);
      this.o.committed(n);
    }
  }

  close(): void {
    this.closed = true;
    this.debouncer.close();
  }
}
