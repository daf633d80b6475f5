import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log';
import { DEFAULT_PARSE_LIMITS, type ParseLimits, type ParsedFile } from './manifest';

/** Loading the worker's modules is not part of a file's time budget, but is bounded too. */
const STARTUP_MS = 30_000;

export interface ParseRequest {
  id: number;
  name: string;
  text: string;
  limits: ParseLimits;
}

export type ParseReply = { id: number; ok: true; parsed: ParsedFile } | { id: number; ok: false; reason: string };

/** A file either parsed (maybe with per-document errors) or was rejected whole with a reason. */
export type ParseOutcome = { ok: true; parsed: ParsedFile } | { ok: false; reason: string };

export interface ParserHostOptions {
  logger: Logger;
  limits?: Partial<ParseLimits>;
  /** Wall-clock budget per file; on overrun the worker is terminated and the file rejected. Default 30 s. */
  timeoutMs?: number;
  /** The worker's old-generation heap cap (MiB); exceeding it ends the worker, not the daemon. Default 512. */
  heapMb?: number;
  /** An idle worker is ended after this long (its heap, garbage of the last parse, goes with it). Default 1 s. */
  idleMs?: number;
}

/**
 * Runs manifest parsing in one worker thread, one file at a time (callers
 * queue). The worker is started on first use and replaced after it is
 * terminated (time budget) or dies (heap cap), so one bad file costs at most
 * one budget and never the daemon.
 */
export class ParserHost {
  private readonly log: Logger;
  private readonly limits: ParseLimits;
  private readonly timeoutMs: number;
  private readonly heapMb: number;
  private worker: Worker | undefined;
  private nextId = 1;
  private chain: Promise<void> = Promise.resolve();
  private current: { id: number; worker: Worker; settle: (o: ParseOutcome) => void } | undefined;
  private closed = false;
  private readonly idleMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Per worker: resolves true once its modules are loaded (false if it died first); bounded by STARTUP_MS. */
  private readonly ready = new WeakMap<Worker, Promise<boolean>>();
  private pending = 0;
  /** Workers replaced after a budget overrun or a crash (for tests and metrics). */
  restarts = 0;

  constructor(opts: ParserHostOptions) {
    this.log = opts.logger;
    this.limits = { ...DEFAULT_PARSE_LIMITS, ...opts.limits };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.heapMb = opts.heapMb ?? 512;
    this.idleMs = opts.idleMs ?? 1000;
  }

  /** Parses one file's text; resolves (never rejects) once the worker answered, died or ran out of time. */
  parse(name: string, text: string): Promise<ParseOutcome> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.pending++;
    const run = this.chain
      .then(() => this.runOne(name, text))
      .finally(() => {
        if (--this.pending === 0) this.idleSoon();
      });
    // Settles with nothing: the chain must not hold the last file's parsed objects (a 5,000-pod file is
    // ~130k objects) for as long as no other file is parsed.
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Ends the worker once nothing was parsed for idleMs: a worker that parsed
   * the start-up files keeps their garbage in its own heap (measured: +100 MiB
   * RSS in the churn bench) until its isolate collects, which an idle one
   * rarely does. A new one starts in ~50 ms when the next large file comes.
   */
  private idleSoon(): void {
    if (this.closed || !this.worker) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const w = this.worker;
      if (!w || this.pending > 0) return;
      this.worker = undefined;
      void w.terminate();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = undefined;
    this.current?.settle({ ok: false, reason: 'parser closed' });
    if (w) await w.terminate();
  }

  private async runOne(name: string, text: string): Promise<ParseOutcome> {
    if (this.closed) return { ok: false, reason: 'parser closed' };
    const w = this.ensureWorker();
    const started = await this.ready.get(w);
    if (!started) return { ok: false, reason: 'parser did not start' };
    const id = this.nextId++;
    return new Promise<ParseOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn(
          { file: name, timeoutMs: this.timeoutMs },
          'manifest parse over its time budget; parser restarted',
        );
        this.replace(w);
        settle({ ok: false, reason: `file rejected: parsing took longer than ${this.timeoutMs} ms` });
      }, this.timeoutMs);
      timer.unref();
      const settle = (o: ParseOutcome): void => {
        if (this.current?.id !== id) return;
        clearTimeout(timer);
        this.current = undefined;
        w.unref(); // idle: an idle parser never keeps the process alive
        resolve(o);
      };
      this.current = { id, worker: w, settle };
      if (this.worker !== w) {
        settle({ ok: false, reason: 'file rejected: the parser exited' });
        return;
      }
      w.ref(); // a parse in flight keeps the process alive until it settles
      w.postMessage({ id, name, text, limits: this.limits } satisfies ParseRequest);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    // Compiled next to this file (dist/pkg/registry/parse-worker.js).
    const w = new Worker(path.join(__dirname, 'parse-worker.js'), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    this.ready.set(
      w,
      new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          this.log.warn({ startupMs: STARTUP_MS }, 'manifest parser did not start in time; parser restarted');
          this.replace(w);
          resolve(false);
        }, STARTUP_MS);
        w.once('message', () => {
          clearTimeout(t);
          w.unref();
          resolve(true);
        });
        w.once('exit', () => {
          clearTimeout(t);
          resolve(false);
        });
      }),
    );
    w.on('message', (r: ParseReply | { ready: true }) => {
      if (!('id' in r) || this.current?.id !== r.id) return;
      this.current.settle(r.ok ? { ok: true, parsed: r.parsed } : { ok: false, reason: r.reason });
    });
    w.on('error', (err: Error & { code?: string }) => {
      // ERR_WORKER_OUT_OF_MEMORY when the heap cap was hit; the thread is gone either way.
      const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.log.warn(
        { err, heapMb: this.heapMb },
        oom ? 'manifest parser ran out of memory; parser restarted' : 'manifest parser failed',
      );
      if (this.worker === w) this.worker = undefined;
      this.restarts++;
      const reason = oom
        ? `file rejected: parsing needs more than the parser's ${this.heapMb} MiB heap`
        : `parser failed: ${err.message}`;
      if (this.current?.worker === w) this.current.settle({ ok: false, reason });
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      if (this.current?.worker !== w) return;
      this.current.settle({ ok: false, reason: `file rejected: the parser exited (code ${code})` });
    });
    this.worker = w;
    return w;
  }

  private replace(w: Worker): void {
    if (this.worker === w) this.worker = undefined;
    this.restarts++;
    void w.terminate();
  }
}
