import { fork, type ChildProcess } from 'node:child_process';
import { pinnedCommand } from './pin';

/** A forked simulator process driven over IPC. */
export class SimProc {
  private readonly child: ChildProcess;
  private readonly waiters: { ev: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  private readonly queue: Record<string, unknown>[] = [];

  /** `cpus`: run under `taskset -c cpus` (fork runs execPath with execArgv, then the script). */
  constructor(script: string, execArgv: string[] = [], args: string[] = [], cpus?: string) {
    const run = pinnedCommand(process.execPath, execArgv, cpus);
    const stdio: ('ignore' | 'inherit' | 'ipc')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
    this.child = fork(script, args, { stdio, execPath: run.cmd, execArgv: run.args });
    this.child.on('message', (m: Record<string, unknown>) => {
      const i = this.waiters.findIndex((w) => w.ev === m.ev);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
      else this.queue.push(m);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(m: Record<string, unknown>): void {
    this.child.send(m);
  }

  /** Next message with this event name (bounded). */
  next(ev: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const i = this.queue.findIndex((m) => m.ev === ev);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`simulator: no "${ev}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        ev,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  close(): void {
    try {
      this.child.send({ cmd: 'close' });
    } catch {
      /* already gone */
    }
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}

export const wallNow = (): number => performance.timeOrigin + performance.now();
