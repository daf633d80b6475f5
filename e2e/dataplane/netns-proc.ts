import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A long-lived process inside a rig namespace: `ip netns exec <ns> setpriv --pdeathsig KILL -- <cmd>`. ip and
 * setpriv exec into the command, so the pid is the command's own, and the kernel kills it if the test process
 * dies first (PR_SET_PDEATHSIG survives exec). stdout and stderr go to one log file per process.
 */
export interface NetnsProc {
  readonly name: string;
  readonly ns: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  exitedAlready(): boolean;
  /** SIGTERM, then SIGKILL after graceMs; resolves when gone. Idempotent. */
  stop(graceMs?: number): Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
  /** The log so far (for failure messages). */
  logTail(lines?: number): string;
  /** Calls fn on every stdout line (JSON loggers). */
  onLine(fn: (line: string) => void): void;
}

export function spawnInNetns(o: {
  ns: string;
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  logDir: string;
}): NetnsProc {
  fs.mkdirSync(o.logDir, { recursive: true });
  const logFile = path.join(o.logDir, `${o.name}.log`);
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const child = spawn('ip', ['netns', 'exec', o.ns, 'setpriv', '--pdeathsig', 'KILL', '--', o.cmd, ...o.args], {
    // PATH only, for ip and setpriv; the command gets exactly the env it is given.
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...o.env },
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${o.name} in ${o.ns}`);
  const listeners: ((l: string) => void)[] = [];
  let partial = '';
  child.stdout.on('data', (b: Buffer) => {
    log.write(b);
    if (listeners.length === 0) return;
    const s = partial + b.toString('utf8');
    const lines = s.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) for (const f of listeners) f(l);
  });
  child.stderr.pipe(log, { end: false });
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, sig) => {
      done = true;
      resolve(code ?? sig ?? 'unknown');
    });
  });
  void exited.then(() => log.end());
  let stopping: Promise<number | string> | undefined;
  return {
    name: o.name,
    ns: o.ns,
    pid: child.pid,
    logFile,
    child,
    exited,
    exitedAlready: () => done,
    stop(graceMs = 5000) {
      if (done) return exited;
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      })();
      return stopping;
    },
    kill(signal = 'SIGKILL') {
      if (!done) child.kill(signal);
    },
    logTail(lines = 40) {
      try {
        return fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    onLine(fn) {
      listeners.push(fn);
    },
  };
}
