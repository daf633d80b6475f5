import type { KeyObject } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DaemonError, GrpcCode } from '../errors';
import type { Logger } from '../log';
import type { SigningBatch, SigningJob, SigningOutcome, SigningReply, SigningWorkerData } from './signing-protocol';

export interface SigningPoolOptions {
  /** The CA signing key; each thread gets its own handle to it. */
  key: KeyObject;
  /** Signing threads, started on first use. */
  threads: number;
  logger: Logger;
  /** A batch not answered within this long ends its thread; its jobs fail with ca.signer_failed. Default 30 s. */
  batchTimeoutMs?: number;
  /** Threads end once nothing has been in flight for this long, giving back their ~10 MiB each. Default 60 s. */
  idleMs?: number;
  /** The thread's script; default signing-worker.js beside this file (tests substitute a failing one). */
  script?: string;
}

interface Waiter {
  resolve: (signature: Uint8Array) => void;
  reject: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  /** Jobs sent and not yet answered: new jobs go to the thread with the fewest. */
  outstanding: number;
  batches: Map<number, { waiters: Waiter[]; timer: NodeJS.Timeout }>;
}

const failed = (message: string, grpcCode: 13 | 14 = GrpcCode.UNAVAILABLE): DaemonError =>
  new DaemonError('ca.signer_failed', grpcCode, message, 'certificate signing failed, retry');

/**
 * Worker threads that check CSR proofs and sign certificates with the CA key, so a burst of requests uses
 * every core while the event loop serves the network. Jobs queued in one turn of the event loop go out as one
 * message per thread (one hand-off for many certificates), each job to the thread with the fewest outstanding.
 * It replaced node:crypto's per-operation thread-pool calls (two hand-offs per certificate, each on whichever
 * libuv thread wakes); the measurements are in docs/design/ca-floors.md section 9.
 *
 * A thread that exits or does not answer a batch in time fails that thread's jobs with ca.signer_failed
 * (UNAVAILABLE: ztunnel retries) and is replaced on the next use. Threads are unref'd: an idle pool never keeps
 * the process alive; a batch in flight does, through its deadline timer. The queue has no cap of its own: its
 * one caller, Authority.sign, admits at most maxPendingSignatures at once.
 */
export class SigningPool {
  private readonly threads: Array<Thread | undefined>;
  private readonly script: string;
  private readonly timeoutMs: number;
  private queue: Array<{ job: SigningJob; waiter: Waiter }> = [];
  private scheduled = false;
  private nextId = 0;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SigningPoolOptions) {
    this.threads = Array.from({ length: Math.max(1, o.threads) }, () => undefined);
    this.script = o.script ?? path.join(__dirname, 'signing-worker.js');
    this.timeoutMs = o.batchTimeoutMs ?? 30_000;
  }

  /** The job's signature once its proof checks out; rejects with the proof's refusal or ca.signer_failed. */
  sign(job: SigningJob): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(failed('signing threads closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, waiter: { resolve, reject } });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Jobs queued or sent and not yet answered. */
  get backlog(): number {
    let n = this.queue.length;
    for (const t of this.threads) n += t?.outstanding ?? 0;
    return n;
  }

  /** Threads running now (diagnostics, tests). */
  get running(): number {
    return this.threads.filter(Boolean).length;
  }

  /** Stops every thread; jobs queued or in flight fail with ca.signer_failed. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const q = this.queue;
    this.queue = [];
    for (const { waiter } of q) waiter.reject(failed('signing threads closed'));
    await Promise.all(this.threads.flatMap((t) => (t ? [t.worker.terminate()] : [])));
  }

  destroy(): void {
    void this.close();
  }

  private flush(): void {
    this.scheduled = false;
    const q = this.queue;
    this.queue = [];
    if (this.closed) {
      for (const { waiter } of q) waiter.reject(failed('signing threads closed'));
      return;
    }
    const per = this.threads.map((_, i) => ({
      thread: this.thread(i),
      jobs: [] as SigningJob[],
      waiters: [] as Waiter[],
    }));
    for (const { job, waiter } of q) {
      let best = per[0]!;
      for (const p of per) {
        if (p.thread.outstanding + p.jobs.length < best.thread.outstanding + best.jobs.length) best = p;
      }
      best.jobs.push(compact(job));
      best.waiters.push(waiter);
    }
    for (const p of per) if (p.jobs.length > 0) this.send(p.thread, p.jobs, p.waiters);
  }

  private send(t: Thread, jobs: SigningJob[], waiters: Waiter[]): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const id = this.nextId++;
    // Not unref'd: a batch in flight keeps the process alive until it is answered or times out.
    const timer = setTimeout(() => {
      this.o.logger.warn({ component: 'ca', jobs: jobs.length, timeoutMs: this.timeoutMs }, 'signing thread timed out');
      void t.worker.terminate();
    }, this.timeoutMs);
    t.batches.set(id, { waiters, timer });
    t.outstanding += jobs.length;
    t.worker.postMessage({ id, jobs } satisfies SigningBatch);
  }

  /** Ends every thread after idleMs with nothing in flight; the next job starts them again. */
  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.backlog > 0) return;
      // Out of the array first: a job arriving before they have exited starts new threads instead.
      const idle = [...this.threads];
      this.threads.fill(undefined);
      for (const t of idle) void t?.worker.terminate();
    }, this.o.idleMs ?? 60_000);
    this.idleTimer.unref();
  }

  private thread(i: number): Thread {
    const existing = this.threads[i];
    if (existing) return existing;
    const worker = new Worker(this.script, { workerData: { key: this.o.key } satisfies SigningWorkerData });
    const t: Thread = { worker, outstanding: 0, batches: new Map() };
    this.threads[i] = t;
    worker.on('message', (reply: SigningReply) => {
      const b = t.batches.get(reply.id);
      if (!b) return;
      t.batches.delete(reply.id);
      clearTimeout(b.timer);
      t.outstanding -= b.waiters.length;
      b.waiters.forEach((w, k) => settle(w, reply.outcomes[k]));
      if (this.backlog === 0) this.armIdle();
    });
    worker.on('error', (e: Error) => this.o.logger.error({ component: 'ca', err: e.message }, 'signing thread failed'));
    worker.on('exit', (code: number) => {
      if (this.threads[i] === t) this.threads[i] = undefined;
      for (const b of t.batches.values()) {
        clearTimeout(b.timer);
        for (const w of b.waiters) w.reject(failed(`signing thread exited (${code})`));
      }
      t.batches.clear();
      t.outstanding = 0;
    });
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return t;
  }
}

function settle(w: Waiter, o: SigningOutcome | undefined): void {
  if (o && 'signature' in o) w.resolve(o.signature);
  else if (o && 'refused' in o) w.reject(new DaemonError(o.refused.code, o.refused.grpcCode, o.refused.message));
  else w.reject(failed(o ? `signing failed: ${o.failed}` : 'no answer for a job', GrpcCode.INTERNAL));
}

/**
 * Exact-size copies: a Buffer is often a view of node's shared 8 KiB pool, and structured clone copies a view's
 * whole ArrayBuffer.
 */
function compact(job: SigningJob): SigningJob {
  const { proof } = job;
  return {
    proof: {
      spki: new Uint8Array(proof.spki),
      signed: new Uint8Array(proof.signed),
      signature: new Uint8Array(proof.signature),
      check: proof.check,
    },
    tbs: new Uint8Array(job.tbs),
  };
}
