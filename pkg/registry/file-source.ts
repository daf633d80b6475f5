import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import * as path from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock, Component } from '../lifecycle';
import type { Logger } from '../log';
import { listTree, MANIFEST_EXTENSIONS, statFileSync, underFailed, type ListedFile } from './dir-scan';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from './manifest';
import { ParserHost } from './parser-host';
import { parseManifestText, readManifest } from './manifest-read';
import { createSourceMetrics, ProblemTable, type ProblemCode, type SourceHealth } from './source-health';
import type { LocalRegistry } from './local-registry';
import { safetyScanDelay } from './scan-schedule';

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
 * Parsing runs in a worker thread (ParserHost) under limits and a budget.
 */
export class FileSource implements Component {
  private readonly dir: string;
  private readonly registry: LocalRegistry;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly maxBytes: number;
  private readonly loaderId: string;
  private readonly parser: ParserHost;
  private readonly limits: ParseLimits;
  private readonly problems: ProblemTable;
  /** rel path -> when an empty version (that stamp) of a file that had objects was first read. */
  private readonly emptySeen = new Map<string, { stamp: string; at: number }>();
  /** rel path -> stamp of the version last processed (read and parsed, or rejected whole). */
  private readonly stamps = new Map<string, string>();
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
    this.log = opts.logger.child({ component: 'file-source' });
    this.clock = opts.clock;
    this.pollMs = opts.pollIntervalMs ?? 1000;
    this.maxBytes = opts.maxFileBytes ?? 32 * 1024 * 1024;
    this.loaderId = `file-source:${this.dir}`;
    this.limits = { ...DEFAULT_PARSE_LIMITS, ...opts.parseLimits };
    this.parser = new ParserHost({
      logger: this.log,
      limits: opts.parseLimits,
      timeoutMs: opts.parseTimeoutMs,
      heapMb: opts.parserHeapMb,
    });
    this.problems = new ProblemTable('file', createSourceMetrics(opts.metrics), () => this.clock.now());
    this.problems.init();
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
        const files = [...this.dirty];
        this.dirty.clear();
        void this.scanFiles(files);
      }
    }, WATCH_SETTLE_MS);
    this.settleTimer.unref();
  }

  /**
   * Re-checks just these paths. Anything that is not plainly a readable file
   * (a directory, a path that is gone, an error) falls back to a full scan:
   * only a listing can prove a file was removed.
   */
  private async scanFiles(files: string[]): Promise<void> {
    if (this.scanning) {
      // A full scan is running; it will see these changes or rescan after.
      this.rescan = true;
      return;
    }
    this.scanning = (async () => {
      for (const abs of files) {
        if (this.closed) return;
        const rel = path.relative(this.dir, abs);
        if (rel.startsWith('..') || path.basename(abs).startsWith('.')) continue;
        if (!MANIFEST_EXTENSIONS.has(path.extname(abs).toLowerCase())) {
          this.fullPending ||= !path.extname(abs); // maybe a directory
          continue;
        }
        if (!this.realRoot) {
          this.fullPending = true;
          continue;
        }
        const r = statFileSync(this.dir, this.realRoot, abs);
        if (r?.kind !== 'file') {
          this.fullPending = true;
          continue;
        }
        if (this.stamps.get(rel) !== r.file.stamp) await this.load(rel, r.file);
      }
    })();
    try {
      await this.scanning;
    } finally {
      this.scanning = undefined;
    }
    if (this.fullPending || this.rescan) this.kick();
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
      if (this.stamps.get(rel) === file.stamp) continue;
      if (!(await this.load(rel, file))) complete = false;
    }
    for (const rel of [...this.stamps.keys()]) {
      // Kept: still listed, or under a directory that could not be listed this round.
      if (listing.files.has(rel) || underFailed(rel, listing.failed)) continue;
      this.stamps.delete(rel);
      this.emptySeen.delete(rel);
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

  /**
   * Reads and parses one file. Returns false when it could not be read (its
   * stamp is not recorded, so the next scan retries it).
   */
  private async load(rel: string, file: ListedFile): Promise<boolean> {
    const id = `file:${rel}`;
    const read = await readManifest(file, this.maxBytes);
    if (read.kind === 'failed') {
      this.report(rel, 'read', read.reason);
      return false;
    }
    if (read.kind === 'text' && read.text.trim() === '' && this.registry.sourceSize(id) > 0) {
      // A writer that truncates before writing (O_TRUNC: editors, shell redirection) shows an
      // empty file for a moment: emptiness withdraws the file's objects only once it held still
      // for a poll interval; until then it is a 'read' problem and the file is read again.
      const seen = this.emptySeen.get(rel);
      if (seen?.stamp !== file.stamp) this.emptySeen.set(rel, { stamp: file.stamp, at: this.clock.now() });
      if (!seen || seen.stamp !== file.stamp || this.clock.now() - seen.at < this.pollMs) {
        this.report(rel, 'read', 'empty; its objects stay until it is still empty a poll interval later');
        return false;
      }
    }
    this.emptySeen.delete(rel);
    this.stamps.set(rel, file.stamp);
    if (read.kind === 'too-big') {
      const reason = `file rejected: larger than ${this.maxBytes} bytes (${read.size})`;
      this.report(rel, 'limit', reason);
      this.registry.reportParseErrors(id, [{ origin: rel, reason }]);
      return true;
    }
    const outcome = await parseManifestText(rel, file, read.text, this.limits, this.parser);
    if (this.closed) return true;
    if (!outcome.ok) {
      this.report(rel, 'limit', outcome.reason);
      this.registry.reportParseErrors(id, [{ origin: rel, reason: outcome.reason }]);
      return true;
    }
    const parsed = outcome.parsed;
    this.registry.reportParseErrors(id, parsed.errors);
    if (parsed.errors.length === 0) {
      this.problems.clear(rel);
      this.registry.replaceSource(id, parsed.objects);
    } else {
      // A document that does not parse could have been any object: withdraw
      // nothing until the file parses again, only apply the valid documents.
      const limit = parsed.errors.some((e) => e.origin === rel);
      const first = parsed.errors.slice(0, 3).map((e) => `${e.origin}: ${e.reason}`);
      this.report(rel, limit ? 'limit' : 'parse', first.join('; '));
      this.registry.applyEvents(
        id,
        parsed.objects.map((o) => ({ type: 'upsert' as const, obj: o.obj, origin: o.origin })),
      );
    }
    // debug, not info: under churn every change is a file load, and one line each was ~8 % of the daemon's CPU
    // (churn bench, 100 changes/s); problems are reported above at warn whatever the level.
    this.log.debug(
      { file: rel, objects: parsed.objects.length, parseErrors: parsed.errors.length },
      'manifest file loaded',
    );
    return true;
  }
}
