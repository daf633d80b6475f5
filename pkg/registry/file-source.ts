import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import * as path from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock, Component } from '../lifecycle';
import type { Logger } from '../log';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from './manifest';
import { ParserHost } from './parser-host';
import { isSmallManifest } from './manifest-read';
import { ManifestLoader } from './manifest-loader';
import { listTree, statFileSync, underFailed, watchedPathKind, type ListedFile } from './dir-scan';
import { createSourceMetrics, ProblemTable, type ProblemCode, type SourceHealth } from './source-health';
import type { LocalRegistry } from './local-registry';
import { safetyScanDelay } from './scan-schedule';
import { ParkedWork, type IngestGate } from './ingest-gate';

export interface FileSourceOptions {
  dir: string;
  registry: LocalRegistry;
  logger: Logger;
  clock: Clock;
  /** Prometheus registry for ambientd_registry_* source metrics (absent: no metrics). */
  metrics?: Registry;
  /** Safety-net full stat scan period; fs.watch usually reacts first. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Files larger than this are rejected whole. Default 32 MiB. */
  maxFileBytes?: number;
  /** Per-file parse limits (nodes, aliases, depth); defaults in manifest.ts. */
  parseLimits?: Partial<ParseLimits>;
  /** Per-file parse time budget (ms); default 30 s. */
  parseTimeoutMs?: number;
  /** Heap cap of the parser worker (MiB); default 512. */
  parserHeapMb?: number;
  /**
   * Where edits of small files wait to be applied (the daemon's pusher): they are read, parsed and applied when the
   * gate drains them, right before its next snapshot. Absent: applied as soon as their watch events settle.
   */
  gate?: IngestGate;
  /** A gate that has not drained within this long (ms) is not waited for: the source applies them (GATE_WAIT_MS). */
  gateWaitMs?: number;
}

/** Coalesces a burst of fs.watch events (editors write several times) into one scan. */
const WATCH_SETTLE_MS = 1;

/**
 * Feeds the registry from a directory tree of Kubernetes manifests. Each file
 * is its own registry source ("file:<relpath>"), so editing one file touches
 * only its objects. fs.watch gives fast pick-up; a periodic stat scan
 * (inode + size + mtime) is the safety net where watch is unreliable.
 *
 * A failure is never a deletion: a directory that cannot be listed, a file
 * that cannot be read, parsed as a whole, or is over a limit keeps its last
 * good objects and is reported in health() until it reads again. Only a
 * successful listing that no longer names a file removes its objects.
 * Small files are read and parsed on the event loop, larger ones in a worker
 * thread (ParserHost), under the same limits. With a gate, a small file's edit
 * is applied when the gate drains it (FileSourceOptions.gate).
 */
export class FileSource implements Component {
  private readonly dir: string;
  private readonly registry: LocalRegistry;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly loaderId: string;
  private readonly parser: ParserHost;
  private readonly problems: ProblemTable;
  private readonly loader: ManifestLoader;
  /**
   * One non-recursive watcher per directory: Node 20's recursive fs.watch on
   * Linux misses or delays events for files replaced by rename (measured:
   * edits waited for the 500 ms safety scan), while a plain directory watch
   * reports them within a millisecond.
   */
  private readonly watchers = new Map<string, FSWatcher>();
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly dirty = new Set<string>();
  /** Settled edits waiting for the gate (absolute paths). */
  private readonly deferred = new Set<string>();
  private readonly parking: ParkedWork | undefined;
  private fullPending = false;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private closed = false;
  private synced = false;
  private lastFullScanAt: number | null = null;
  /** The directory's real path as of the last listing (symlink targets must stay under it). */
  private realRoot: string | undefined;

  constructor(opts: FileSourceOptions) {
    this.dir = path.resolve(opts.dir);
    this.registry = opts.registry;
    this.parking = opts.gate && new ParkedWork(opts.gate, () => this.applyDeferred(), opts.gateWaitMs);
    this.log = opts.logger.child({ component: 'file-source' });
    this.clock = opts.clock;
    this.pollMs = opts.pollIntervalMs ?? 1000;
    this.loaderId = `file-source:${this.dir}`;
    this.parser = new ParserHost({
      logger: this.log,
      limits: opts.parseLimits,
      timeoutMs: opts.parseTimeoutMs,
      heapMb: opts.parserHeapMb,
    });
    this.problems = new ProblemTable('file', createSourceMetrics(opts.metrics), () => this.clock.now());
    this.problems.init();
    this.loader = new ManifestLoader({
      registry: this.registry,
      log: this.log,
      clock: this.clock,
      parser: this.parser,
      limits: { ...DEFAULT_PARSE_LIMITS, ...opts.parseLimits },
      maxBytes: opts.maxFileBytes ?? 32 * 1024 * 1024,
      emptyHoldMs: this.pollMs,
      problems: this.problems,
      report: (rel, code, reason) => this.report(rel, code, reason),
      closed: () => this.closed,
    });
    this.registry.registerSource(this.loaderId);
  }

  /**
   * One full scan, then periodic ones. The registry counts as loaded only
   * after a scan that read every file (readiness waits for it); until then
   * the safety scan keeps retrying.
   */
  async start(): Promise<void> {
    await this.scan();
  }

  /** Arms the next safety scan, `pollMs` or SCAN_DUTY_FACTOR × the last full scan's duration away. */
  private schedulePoll(lastScanMs: number): void {
    if (this.closed) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(
      () => {
        this.pollTimer = undefined;
        this.kick();
      },
      safetyScanDelay(this.pollMs, lastScanMs),
    );
    this.pollTimer.unref();
  }

  health(): SourceHealth {
    return {
      source: this.loaderId,
      healthy: this.problems.size === 0,
      synced: this.synced,
      lastFullScanAt: this.lastFullScanAt,
      problems: this.problems.list(),
    };
  }

  /** Runs a scan now (also what the timers call); resolves when it is done. */
  async scan(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescan = false;
        const startedAt = this.clock.monotonic();
        try {
          await this.scanOnce();
        } catch (err) {
          this.log.error({ err }, 'manifest scan failed');
        }
        this.schedulePoll(this.clock.monotonic() - startedAt);
      } while (this.rescan && !this.closed);
    })();
    try {
      await this.scanning;
    } finally {
      this.scanning = undefined;
    }
  }

  async close(): Promise<void> {
    this.stopTimers();
    // The parser first: a parse in flight (up to its time budget) ends now, not after the drain deadline.
    await this.parser.close();
    await this.scanning;
  }

  destroy(): void {
    this.stopTimers();
    void this.parser.close();
  }

  private stopTimers(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.parking?.close();
    this.pollTimer = this.settleTimer = undefined;
  }

  /**
   * A watch event names one entry: only that file is re-checked (O(1) per
   * edit, not a walk of the whole tree); an event without a name, or the
   * periodic safety scan, walks everything.
   */
  private kick(file?: string): void {
    if (this.closed) return;
    if (file === undefined) this.fullPending = true;
    else if (this.dirty.size < 1000) this.dirty.add(file);
    else this.fullPending = true;
    if (this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      if (this.closed) return;
      if (this.fullPending) {
        this.fullPending = false;
        this.dirty.clear();
        void this.scan();
      } else {
        // By name first (no I/O): a hidden or non-manifest path is not read, and with a gate asks for no push.
        const files = [...this.dirty].filter((abs) => this.wanted(abs));
        this.dirty.clear();
        if (this.parking) this.defer(files, this.parking);
        else void this.scanFiles(files);
      }
    }, WATCH_SETTLE_MS);
    this.settleTimer.unref();
  }

  /** Re-checks just these wanted() paths (changed(): what is not plainly a readable file asks for a full scan). */
  private async scanFiles(files: string[]): Promise<void> {
    if (this.scanning) {
      // A full scan is running; it will see these changes or rescan after.
      this.rescan = true;
      return;
    }
    this.scanning = (async () => {
      for (const abs of files) {
        if (this.closed) return;
        const c = this.changed(abs);
        if (c) await this.loader.load(c.rel, c.file);
      }
    })();
    try {
      await this.scanning;
    } finally {
      this.scanning = undefined;
    }
    if (this.fullPending || this.rescan) this.kick();
  }

  /**
   * The manifest file at `abs` (a wanted() path) when it changed since it was last processed; undefined otherwise.
   * Anything that is not plainly a readable file (a directory, a path that is gone, an error) asks for a full scan:
   * only a listing can prove a file was removed.
   */
  private changed(abs: string): { rel: string; file: ListedFile } | undefined {
    const rel = path.relative(this.dir, abs);
    if (!this.realRoot) {
      this.fullPending = true;
      return undefined;
    }
    const r = statFileSync(this.dir, this.realRoot, abs);
    if (r?.kind !== 'file') {
      this.fullPending = true;
      return undefined;
    }
    return this.loader.isCurrent(rel, r.file.stamp) ? undefined : { rel, file: r.file };
  }

  /** Whether a watch event's path can be a manifest file (no I/O); one that may be a directory asks for a full scan. */
  private wanted(abs: string): boolean {
    const kind = watchedPathKind(this.dir, abs);
    if (kind === 'maybe-dir') this.fullPending = true;
    return kind === 'manifest';
  }

  /** Settled edits (wanted() paths) go to the gate. */
  private defer(files: string[], parking: ParkedWork): void {
    for (const abs of files) this.deferred.add(abs);
    if (this.fullPending) this.kick();
    if (this.deferred.size > 0) parking.parked();
  }

  /**
   * Applies the deferred edits (the gate drained them, or gateWaitMs passed): small files are read, parsed and
   * applied here, synchronously; larger ones take the parser worker as a settled watch event does. While a scan
   * runs, it is asked to run again instead (it may have passed these files already).
   */
  private applyDeferred(): void {
    if (this.closed || this.deferred.size === 0) return;
    const files = [...this.deferred];
    this.deferred.clear();
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    const later: string[] = [];
    for (const abs of files) {
      const c = this.changed(abs);
      if (c && (!isSmallManifest(c.file) || this.loader.loadSmall(c.rel, c.file) === undefined)) later.push(abs);
    }
    if (later.length > 0) void this.scanFiles(later);
    else if (this.fullPending) this.kick();
  }

  private watchDir(abs: string): void {
    if (this.closed || this.watchers.has(abs)) return;
    try {
      const w = watch(abs, { persistent: false }, (_ev, name) => this.kick(name ? path.join(abs, name) : undefined));
      w.on('error', (err) => {
        this.log.warn({ err, dir: abs }, 'fs.watch failed; relying on the periodic scan');
        w.close();
        this.watchers.delete(abs);
      });
      this.watchers.set(abs, w);
    } catch (err) {
      this.log.warn({ err, dir: abs }, 'fs.watch unavailable; relying on the periodic scan');
    }
  }

  private async scanOnce(): Promise<void> {
    const listing = await listTree(this.dir);
    if (listing.realRoot) this.realRoot = listing.realRoot;
    for (const d of listing.dirs) this.watchDir(d);
    for (const [d, w] of this.watchers) {
      if (listing.dirs.has(d) || underFailed(path.relative(this.dir, d) || '.', listing.failed)) continue;
      w.close();
      this.watchers.delete(d);
    }
    // Listing problems are re-reported by every full scan; what no longer fails clears.
    this.problems.retain(['dir', 'symlink'], (p) => listing.failed.has(p) || listing.refused.has(p));
    for (const [rel, reason] of listing.failed) this.report(rel, 'dir', reason);
    for (const [rel, reason] of listing.refused) this.report(rel, 'symlink', reason);
    let complete = listing.failed.size === 0;
    // Changed and new files first, removals last: on a rename the new file's
    // copy takes over before the old one is withdrawn, so nothing flaps.
    for (const [rel, file] of listing.files) {
      if (this.closed) return;
      if (this.loader.isCurrent(rel, file.stamp)) continue;
      if (!(await this.loader.load(rel, file))) complete = false;
    }
    for (const rel of this.loader.known()) {
      // Kept: still listed, or under a directory that could not be listed this round.
      if (listing.files.has(rel) || underFailed(rel, listing.failed)) continue;
      this.loader.forget(rel);
      if (listing.refused.has(rel)) {
        this.log.warn({ file: rel, reason: listing.refused.get(rel) }, 'manifest file refused; its objects withdrawn');
      } else {
        this.log.info({ file: rel }, 'manifest file removed');
      }
      this.problems.clear(rel);
      this.registry.removeSource(`file:${rel}`);
    }
    // A read problem on a file no longer listed (removed since) clears with it.
    this.problems.retain(['read'], (p) => listing.files.has(p) || underFailed(p, listing.failed));
    this.lastFullScanAt = this.clock.now();
    if (complete && !this.synced) {
      this.synced = true;
      this.registry.markLoaded(this.loaderId);
    }
  }

  private report(rel: string, code: ProblemCode, reason: string): void {
    if (!this.problems.set(rel, code, reason)) return;
    this.log.warn({ file: rel, code, reason }, 'registry source problem; last good objects kept');
  }
}
