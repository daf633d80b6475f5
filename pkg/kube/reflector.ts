import type { Logger } from '../log';
import { Backoff, type BackoffOptions } from '../lifecycle';
import { KubeApiError, type KubeApi } from './client';
import { collectionPath, crdName, slim, sourceIdOf, type KindSpec } from './kinds';
import { createKubeMetrics, type KubeMetrics } from './metrics';
import { decodeWatchLines, GoneError } from './watch-events';

type Obj = Record<string, unknown>;

/** What the registry store offers a source (structurally matched by the store's LocalRegistry). */
export interface RegistrySink {
  registerSource(sourceId: string): void;
  replaceSource(sourceId: string, objects: { obj: Obj; origin?: string }[]): void;
  applyEvents(sourceId: string, events: { type: 'upsert' | 'delete'; obj: Obj; origin?: string }[]): void;
  markLoaded(sourceId: string): void;
}

export type ReflectorState = 'idle' | 'listing' | 'watching' | 'backoff' | 'not-installed' | 'forbidden' | 'closed';

export interface ReflectorStatus {
  kind: string;
  state: ReflectorState;
  synced: boolean;
  resourceVersion?: string;
  lastError?: string;
  lists: number;
  relistsGone: number;
  watchesOpened: number;
  stalls: number;
  events: number;
}

export interface ReflectorOptions {
  api: KubeApi;
  kind: KindSpec;
  sink: RegistrySink;
  logger: Logger;
  metrics?: KubeMetrics;
  /** Items per list page (limit). Default 500, client-go's. */
  pageSize?: number;
  /** Server-side watch timeout; each watch uses [t, 2t) like client-go so replicas spread out. Default 300. */
  watchTimeoutSeconds?: number;
  /** No event or bookmark for this long → abort and re-watch. Default 150 s. */
  stallMs?: number;
  backoff?: BackoffOptions;
  /** Poll cap while a CRD is missing (a CRD watch also wakes us). Default 30 s. */
  crdPollMaxMs?: number;
  /**
   * Longest the watch loop applies buffered events before giving the event
   * loop a turn (ms; default 5, 0 = after every chunk). See watch().
   */
  yieldEveryMs?: number;
  random?: () => number;
}

/**
 * A client-go-style reflector for one kind: paginated list → replaceSource,
 * then watch from the list's resourceVersion with bookmarks, applying events
 * in per-chunk batches. 410 (as HTTP status on list-continue/watch, or as an
 * in-stream ERROR) relists; the store diffs the full set, so only real changes
 * reach translation. One reflector owns its kind's source id (single writer).
 */
export class Reflector {
  private readonly sourceId: string;
  private readonly log: Logger;
  private readonly metrics: KubeMetrics;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private rv: string | undefined;
  private loaded = false;
  private closed = false;
  private running?: Promise<void>;
  private abort?: AbortController;
  private wake?: () => void;
  private timer?: NodeJS.Timeout;
  private consecutiveGone = 0;
  /** What the current/last request was, for error messages (a watch can fail before it is 'watching'). */
  private phase: 'list' | 'watch' = 'list';
  private reportedMissing = false;
  private st: ReflectorStatus;

  constructor(private readonly opts: ReflectorOptions) {
    this.sourceId = sourceIdOf(opts.kind);
    this.log = opts.logger.child({ component: 'kube', kind: opts.kind.kind });
    this.metrics = opts.metrics ?? createKubeMetrics();
    this.random = opts.random ?? Math.random;
    this.backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.5, random: this.random, ...opts.backoff });
    this.st = {
      kind: opts.kind.kind,
      state: 'idle',
      synced: false,
      lists: 0,
      relistsGone: 0,
      watchesOpened: 0,
      stalls: 0,
      events: 0,
    };
  }

  get kind(): KindSpec {
    return this.opts.kind;
  }

  status(): ReflectorStatus {
    return { ...this.st, resourceVersion: this.rv };
  }

  get synced(): boolean {
    return this.loaded;
  }

  start(): void {
    if (this.running || this.closed) return;
    this.opts.sink.registerSource(this.sourceId);
    this.running = this.run();
  }

  /**
   * Retry now (the CRD for this kind just became Established). The backoff is
   * reset too, so a 404 while the new API is still being wired up retries soon.
   */
  poke(): void {
    if (this.st.state !== 'not-installed') return;
    this.backoff.reset();
    this.wake?.();
  }

  async close(): Promise<void> {
    this.destroy();
    await this.running;
  }

  destroy(): void {
    this.closed = true;
    this.st.state = 'closed';
    this.abort?.abort();
    this.wake?.();
    if (this.timer) clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.rv === undefined) await this.list();
        if (this.closed) break;
        const started = performance.now();
        const got = await this.watch();
        // A watch that closes at once with nothing in it is an error in disguise
        // (client-go's "very short watch"): back off rather than spin.
        if (!got && performance.now() - started < 1000) await this.sleep(this.backoff.next());
      } catch (e) {
        if (this.closed) break;
        await this.sleep(this.onError(e));
      }
    }
  }

  private signal(): AbortSignal {
    this.abort = new AbortController();
    return this.abort.signal;
  }

  private async list(): Promise<void> {
    this.st.state = 'listing';
    this.phase = 'list';
    const k = this.opts.kind;
    const path = collectionPath(k);
    const items: { obj: Obj }[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    let restarts = 0;
    for (;;) {
      let page: { metadata?: { continue?: string; resourceVersion?: string }; items?: Obj[] };
      try {
        page = await this.opts.api.json('GET', path, {
          query: { limit: this.opts.pageSize ?? 500, continue: cont },
          signal: this.signal(),
        });
      } catch (e) {
        // An expired continue token (etcd compacted past the snapshot) means the
        // pages so far are from a lost snapshot: start the list over.
        if (e instanceof KubeApiError && e.httpStatus === 410 && cont !== undefined && restarts < 3) {
          restarts++;
          this.log.info({ restarts }, 'list continue token expired (410); restarting the list');
          items.length = 0;
          cont = undefined;
          continue;
        }
        throw e;
      }
      for (const it of page.items ?? []) items.push({ obj: slim(k, it) });
      rv = page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
      if (!cont) break;
    }
    if (!rv) throw new KubeApiError(`GET ${path}: list without resourceVersion`, 500, 'GET', path);
    this.opts.sink.replaceSource(this.sourceId, items);
    this.rv = rv;
    this.st.lists++;
    this.metrics.lists.inc({ kind: k.kind });
    if (this.reportedMissing) this.log.info({ crd: crdName(k) }, 'CRD is now served; kind is flowing');
    this.reportedMissing = false;
    if (!this.loaded) {
      this.loaded = true;
      this.opts.sink.markLoaded(this.sourceId);
      this.metrics.synced.set({ kind: k.kind }, 1);
    }
    this.st.synced = true;
    this.st.lastError = undefined;
    this.log.debug({ count: items.length, resourceVersion: rv }, 'listed');
    this.backoff.reset();
  }

  /** One watch. Returns whether anything (event or bookmark) arrived; throws on errors. */
  private async watch(): Promise<boolean> {
    const k = this.opts.kind;
    this.phase = 'watch';
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(base * (1 + this.random()));
    const stallMs = this.opts.stallMs ?? 150_000;
    const signal = this.signal();
    const ac = this.abort!;
    let stalled = false;
    const arm = () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        stalled = true;
        ac.abort();
      }, stallMs);
    };
    arm();
    let got = false;
    try {
      const stream = await this.opts.api.stream(collectionPath(k), {
        query: { watch: 'true', resourceVersion: this.rv, allowWatchBookmarks: 'true', timeoutSeconds },
        signal,
      });
      this.st.state = 'watching';
      this.st.watchesOpened++;
      // After a stall of the API server (or of this process), one socket read
      // holds dozens of events and the async iterator hands them over from
      // its buffer in microtasks, so the whole backlog would be applied in a
      // single macrotask: the push for its first event (debounced with
      // setImmediate/timers) and every xDS write would wait until the last
      // one is in (measured: a 70-event backlog held a push for 48 ms). A turn
      // every few ms lets earlier events go out while later ones are applied.
      const yieldEveryMs = this.opts.yieldEveryMs ?? 5;
      let turnAt = performance.now();
      for await (const lines of stream.lines()) {
        arm();
        got = true;
        this.applyLines(lines);
        if (performance.now() - turnAt >= yieldEveryMs) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          turnAt = performance.now();
        }
      }
      return got;
    } catch (e) {
      if (stalled && !this.closed) {
        this.st.stalls++;
        this.metrics.errors.inc({ kind: k.kind, status: 'stall' });
        this.log.warn(
          { stallMs, resourceVersion: this.rv },
          'watch stalled (no event or bookmark); reconnecting from the last resourceVersion',
        );
        return got;
      }
      throw e;
    } finally {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Applies one chunk's events as one batch; the resourceVersion advances only after the sink took them. */
  private applyLines(lines: string[]): void {
    const k = this.opts.kind;
    const chunk = decodeWatchLines(k, lines, this.rv);
    for (const type of chunk.types) {
      this.st.events++;
      this.metrics.events.inc({ kind: k.kind, type });
    }
    for (const type of chunk.unknownTypes) this.log.warn({ type }, 'unknown watch event type ignored');
    if (chunk.events.length > 0) this.opts.sink.applyEvents(this.sourceId, chunk.events);
    this.rv = chunk.rv;
    if (chunk.error) throw chunk.error;
    this.consecutiveGone = 0;
    this.backoff.reset();
  }

  /** Classifies a failure, logs it once clearly, and returns how long to wait. */
  private onError(e: unknown): number {
    const k = this.opts.kind;
    const phase = this.phase;
    const gone = e instanceof GoneError || (e instanceof KubeApiError && e.httpStatus === 410);
    if (gone) {
      // client-go: "too old resource version" → relist right away; the store's
      // replaceSource diff turns the relist into only the real differences.
      this.rv = undefined;
      this.st.relistsGone++;
      this.metrics.relists.inc({ kind: k.kind, reason: 'gone' });
      this.metrics.errors.inc({ kind: k.kind, status: '410' });
      this.log.info({ reason: e.message }, 'resourceVersion expired (410 Gone); relisting');
      return ++this.consecutiveGone > 2 ? this.backoff.next() : 0;
    }
    const status = e instanceof KubeApiError ? e.httpStatus : -1;
    this.metrics.errors.inc({ kind: k.kind, status: String(status < 0 ? 'other' : status) });
    this.st.lastError = (e as Error).message;
    if (status === 403) {
      this.st.state = 'forbidden';
      const group = k.group || '(core)';
      const resource = k.group ? `${k.plural}.${k.group}` : k.plural;
      this.log.error(
        { verb: phase, resource: k.plural, apiGroup: k.group, err: (e as Error).message },
        `RBAC: ambientd may not ${phase} ${k.plural} in API group "${group}" — ` +
          `grant verbs get/list/watch on ${resource} in its ClusterRole; retrying with backoff`,
      );
      const where = `on resource "${k.plural}" in API group "${k.group}"`;
      this.st.lastError = `forbidden: missing permission "${phase}" ${where}`;
      return this.backoff.next();
    }
    if (status === 404 && k.crd) {
      this.st.state = 'not-installed';
      this.rv = undefined;
      if (!this.reportedMissing) {
        this.reportedMissing = true;
        this.log.warn(
          { crd: crdName(k) },
          `CRD ${crdName(k)} (${k.group}/${k.version}) is not installed; ${k.kind} objects will flow once it is`,
        );
        // Not installed means none exist: the store drops what the kind had (the
        // CRD was deleted) and does not wait for the kind to become ready.
        this.opts.sink.replaceSource(this.sourceId, []);
      }
      if (!this.loaded) {
        this.loaded = true;
        this.opts.sink.markLoaded(this.sourceId);
        this.metrics.synced.set({ kind: k.kind }, 1);
      }
      this.st.synced = true;
      return Math.min(this.backoff.next(), this.opts.crdPollMaxMs ?? 30_000);
    }
    if (status === 429) {
      const d = Math.max(e instanceof KubeApiError ? (e.retryAfterMs ?? 0) : 0, this.backoff.next());
      this.log.warn({ delayMs: d }, 'API server throttling (429); backing off');
      this.st.state = 'backoff';
      return d;
    }
    this.st.state = 'backoff';
    const d = this.backoff.next();
    const fields = { phase, status, delayMs: d, err: (e as Error).message };
    if (status === 401) this.log.error(fields, 'API server rejected our credentials (401); retrying');
    else if (status === 0 || status >= 500) this.log.warn(fields, `${phase} failed; retrying with backoff`);
    else this.log.error(fields, `${phase} failed; retrying with backoff`);
    return d;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}
