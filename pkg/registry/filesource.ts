import { readFileSync, statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Clock, Component } from '../lifecycle';
import type { Logger } from '../log';
import type { RawObject } from './normalize';
import type { LocalRegistry } from './store';
import { isObj } from './validate';

export interface FileSourceOptions {
  dir: string;
  registry: LocalRegistry;
  logger: Logger;
  clock: Clock;
  /** Safety-net full stat scan period; fs.watch usually reacts first. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Files larger than this are rejected whole. Default 32 MiB. */
  maxFileBytes?: number;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
/** Coalesces a burst of fs.watch events (editors write several times) into one scan. */
const WATCH_SETTLE_MS = 1;
/**
 * A watched file this small is re-read synchronously (tens of µs): a single
 * edit then costs no thread-pool round trips (stat, open, fstat, read, close),
 * each of which waits for a loop wake-up — on a busy 2-core host that was most
 * of an idle daemon's file-write → ztunnel latency. Larger files, and full
 * scans, stay asynchronous; their YAML parse dominates anyway.
 */
const SYNC_READ_MAX_BYTES = 256 * 1024;

export interface ParsedFile {
  objects: { obj: RawObject; origin: string }[];
  errors: { origin: string; reason: string }[];
}

function detach(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/**
 * Splits one file into objects: multi-document YAML, JSON, and
 * `kubectl get -o yaml` List output (items expanded, origin "file#doc.item").
 */
export function parseManifest(text: string, name: string): ParsedFile {
  const out: ParsedFile = { objects: [], errors: [] };
  // JSON is YAML too, but JSON.parse is ~50x faster than the YAML parser for
  // the large machine-written files (kubectl get -o json) where it matters.
  if (name.toLowerCase().endsWith('.json')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      out.errors.push({ origin: `${name}#0`, reason: `JSON does not parse: ${(e as Error).message}` });
      return out;
    }
    if (isObj(v) && typeof v['kind'] === 'string' && v['kind'].endsWith('List') && Array.isArray(v['items'])) {
      v['items'].forEach((item, j) => out.objects.push({ obj: item as RawObject, origin: `${name}#0.${j}` }));
    } else if (v !== null) {
      out.objects.push({ obj: v as RawObject, origin: `${name}#0` });
    }
    return out;
  }
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const origin = `${name}#${i}`;
    if (doc.errors.length > 0) {
      out.errors.push({ origin, reason: `YAML does not parse: ${doc.errors[0]!.message.split('\n')[0]}` });
      return;
    }
    let v: unknown;
    try {
      // The JSON round trip copies every string out of the file text: the YAML
      // lexer's substrings are V8 sliced strings that would otherwise keep each
      // reloaded version of the whole file alive for as long as one object
      // from it stays unchanged in the registry.
      v = detach(doc.toJS({ maxAliasCount: 100 }));
    } catch (e) {
      out.errors.push({ origin, reason: `YAML does not parse: ${(e as Error).message}` });
      return;
    }
    if (v === null || v === undefined) return; // empty document (e.g. a trailing ---)
    if (isObj(v) && typeof v['kind'] === 'string' && v['kind'].endsWith('List') && Array.isArray(v['items'])) {
      v['items'].forEach((item, j) => out.objects.push({ obj: item as RawObject, origin: `${origin}.${j}` }));
      return;
    }
    out.objects.push({ obj: v as RawObject, origin });
  });
  return out;
}

/**
 * Feeds the registry from a directory tree of Kubernetes manifests. Each file
 * is its own registry source ("file:<relpath>"), so editing one file touches
 * only its objects. fs.watch gives fast pick-up; a periodic stat scan
 * (inode + size + mtime) is the safety net where watch is unreliable.
 */
export class FileSource implements Component {
  private readonly dir: string;
  private readonly registry: LocalRegistry;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly maxBytes: number;
  private readonly loaderId: string;
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

  constructor(opts: FileSourceOptions) {
    this.dir = path.resolve(opts.dir);
    this.registry = opts.registry;
    this.log = opts.logger.child({ component: 'file-source' });
    this.pollMs = opts.pollIntervalMs ?? 1000;
    this.maxBytes = opts.maxFileBytes ?? 32 * 1024 * 1024;
    this.loaderId = `file-source:${this.dir}`;
    this.registry.registerSource(this.loaderId);
  }

  async start(): Promise<void> {
    await this.scan();
    this.registry.markLoaded(this.loaderId);
    this.pollTimer = setInterval(() => this.kick(), this.pollMs);
    this.pollTimer.unref();
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
        try {
          await this.scanOnce();
        } catch (err) {
          this.log.error({ err }, 'manifest scan failed');
        }
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
    await this.scanning;
  }

  destroy(): void {
    this.stopTimers();
  }

  private stopTimers(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.pollTimer) clearInterval(this.pollTimer);
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

  /** Re-checks just these paths; anything surprising (a directory) falls back to a full scan. */
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
        let st;
        try {
          st = statSync(abs, { bigint: true });
        } catch {
          st = undefined;
        }
        if (st?.isDirectory()) {
          this.fullPending = true;
          continue;
        }
        if (!EXTENSIONS.has(path.extname(abs).toLowerCase())) continue;
        if (!st || !st.isFile()) {
          if (this.stamps.delete(rel)) {
            this.log.info({ file: rel }, 'manifest file removed');
            this.registry.removeSource(`file:${rel}`);
          }
          continue;
        }
        const stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
        if (this.stamps.get(rel) !== stamp) await this.load(rel, stamp, Number(st.size));
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
      const w = watch(abs, { persistent: false }, (_ev, name) => this.kick(name ? path.join(abs, name.toString()) : undefined));
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
    const seen = new Map<string, string>();
    const dirs = new Set<string>();
    await this.walk(this.dir, seen, dirs);
    for (const d of dirs) this.watchDir(d);
    for (const [d, w] of this.watchers) {
      if (dirs.has(d)) continue;
      w.close();
      this.watchers.delete(d);
    }
    // Changed and new files first, removals last: on a rename the new file's
    // copy takes over before the old one is withdrawn, so nothing flaps.
    for (const [rel, stamp] of seen) {
      if (this.closed) return;
      if (this.stamps.get(rel) === stamp) continue;
      await this.load(rel, stamp);
    }
    for (const rel of [...this.stamps.keys()]) {
      if (seen.has(rel)) continue;
      this.stamps.delete(rel);
      this.log.info({ file: rel }, 'manifest file removed');
      this.registry.removeSource(`file:${rel}`);
    }
  }

  private async walk(abs: string, seen: Map<string, string>, dirs: Set<string>): Promise<void> {
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      if (abs === this.dir) this.log.warn({ err, dir: abs }, 'manifest directory unreadable');
      return;
    }
    dirs.add(abs);
    for (const e of entries) {
      // Dot entries are skipped: editor swap files, and ConfigMap mounts' ..data twins.
      if (e.name.startsWith('.')) continue;
      const p = path.join(abs, e.name);
      if (e.isDirectory()) {
        await this.walk(p, seen, dirs);
        continue;
      }
      if (!EXTENSIONS.has(path.extname(e.name).toLowerCase())) continue;
      try {
        const st = await stat(p, { bigint: true });
        if (!st.isFile()) continue;
        seen.set(path.relative(this.dir, p), `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`);
      } catch {
        // Vanished between readdir and stat: the next scan settles it.
      }
    }
  }

  /** `knownSize`: the size the caller just stat'ed (a small file is then read synchronously). */
  private async load(rel: string, stamp: string, knownSize?: number): Promise<void> {
    const id = `file:${rel}`;
    let text: string;
    try {
      const abs = path.join(this.dir, rel);
      const size = knownSize ?? (await stat(abs)).size;
      if (size > this.maxBytes) {
        this.stamps.set(rel, stamp);
        this.registry.reportParseErrors(id, [{ origin: rel, reason: `file is larger than ${this.maxBytes} bytes` }]);
        return;
      }
      text = size <= SYNC_READ_MAX_BYTES ? readFileSync(abs, 'utf8') : await readFile(abs, 'utf8');
    } catch (err) {
      this.log.debug({ err, file: rel }, 'manifest unreadable this round');
      return;
    }
    this.stamps.set(rel, stamp);
    const parsed = parseManifest(text, rel);
    this.registry.reportParseErrors(id, parsed.errors);
    if (parsed.errors.length === 0) {
      this.registry.replaceSource(id, parsed.objects);
    } else {
      // A document that does not parse could have been any object: withdraw
      // nothing until the file parses again, only apply the valid documents.
      this.registry.applyEvents(
        id,
        parsed.objects.map((o) => ({ type: 'upsert' as const, obj: o.obj, origin: o.origin })),
      );
    }
    this.log.info({ file: rel, objects: parsed.objects.length, parseErrors: parsed.errors.length }, 'manifest file loaded');
  }
}
