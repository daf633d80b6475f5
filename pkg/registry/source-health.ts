import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Health of a registry source: what it could not read or refused, and whether
 * it ever completed a full read. A problem never removes objects; it is shown
 * here (and in /debug/syncz, `ambientd check`, the metrics) until it clears.
 */
export type ProblemCode = 'dir' | 'read' | 'limit' | 'parse' | 'symlink';

export interface SourceProblem {
  /** rel path inside the source ("." = the directory itself). */
  path: string;
  code: ProblemCode;
  reason: string;
  /** ms since the epoch when this problem was first seen. */
  since: number;
}

export interface SourceHealth {
  source: string;
  /** No problems now. */
  healthy: boolean;
  /** A full read of every file completed at least once (readiness waits for it). */
  synced: boolean;
  lastFullScanAt: number | null;
  problems: SourceProblem[];
}

export interface SourceMetrics {
  healthy: Gauge;
  problems: Gauge;
  failures: Counter;
}

/** ambientd_registry_* metrics of a file source; undefined when no registry was injected. */
export function createSourceMetrics(registry: Registry | undefined): SourceMetrics | undefined {
  if (!registry) return undefined;
  return {
    healthy: new Gauge({
      name: 'ambientd_registry_source_healthy',
      help: '1 when the registry source read everything on its last attempt, else 0.',
      labelNames: ['source'],
      registers: [registry],
    }),
    problems: new Gauge({
      name: 'ambientd_registry_source_problems',
      help: 'Paths the registry source currently cannot read or refuses, by problem code.',
      labelNames: ['source', 'code'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'ambientd_registry_read_failures_total',
      help: 'Registry reads that failed or were refused (objects kept), by problem code.',
      labelNames: ['source', 'code'],
      registers: [registry],
    }),
  };
}

/** The problem table of one source (single writer: the source). */
export class ProblemTable {
  private readonly byPath = new Map<string, SourceProblem>();

  constructor(
    private readonly source: string,
    private readonly metrics: SourceMetrics | undefined,
    private readonly now: () => number,
  ) {}

  set(p: string, code: ProblemCode, reason: string): boolean {
    const old = this.byPath.get(p);
    if (old && old.code === code && old.reason === reason) return false;
    this.byPath.set(p, { path: p, code, reason, since: old?.since ?? this.now() });
    this.metrics?.failures.inc({ source: this.source, code });
    this.publish();
    return true;
  }

  clear(p: string): boolean {
    if (!this.byPath.delete(p)) return false;
    this.publish();
    return true;
  }

  /** Drops problems of these codes that `keep` does not name (a full scan re-reports what still fails). */
  retain(codes: readonly ProblemCode[], keep: (p: string) => boolean): void {
    let changed = false;
    for (const [p, v] of this.byPath) {
      if (codes.includes(v.code) && !keep(p)) {
        this.byPath.delete(p);
        changed = true;
      }
    }
    if (changed) this.publish();
  }

  has(p: string): boolean {
    return this.byPath.has(p);
  }

  list(): SourceProblem[] {
    return [...this.byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  get size(): number {
    return this.byPath.size;
  }

  private publish(): void {
    if (!this.metrics) return;
    this.metrics.healthy.set({ source: this.source }, this.byPath.size === 0 ? 1 : 0);
    const counts: Record<ProblemCode, number> = { dir: 0, read: 0, limit: 0, parse: 0, symlink: 0 };
    for (const v of this.byPath.values()) counts[v.code]++;
    for (const [code, n] of Object.entries(counts)) this.metrics.problems.set({ source: this.source, code }, n);
  }

  /** Publishes the initial (healthy) values. */
  init(): void {
    this.publish();
  }
}
