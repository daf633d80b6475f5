import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import { waitFor } from '../../pkg/lifecycle';

/** The repository root (this file runs from dist/e2e/chaos/). */
export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const MAIN_JS = path.join(REPO_ROOT, 'dist/cmd/ambientd/main.js');
/** The node options the CLI ships with (its shebang): the daemons run as a user's would. */
const DAEMON_NODE_FLAGS = shebangNodeFlags(MAIN_JS);

/**
 * Free loopback ports (bind 0, read, close): a daemon must keep its ports
 * across kill -9 restarts. All are held open until every one is chosen, so
 * no two come back equal.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface DaemonSpec {
  name: string;
  dir: string;
  config: Record<string, unknown>;
  debugPort: number;
  xdsPort: number;
}

/**
 * The real ambientd binary as a child process whose state dir survives
 * kill -9 restarts. tap injects NODE_OPTIONS hooks into children; `env -u`
 * runs the daemon exactly as in production (and exec()s, so the pid is the
 * daemon's and signals reach it directly).
 */
export class DaemonProc {
  child?: ChildProcess;
  paused = false;
  starts = 0;
  readonly stateDir: string;
  readonly cfgFile: string;
  readonly logFile: string;
  token = '';

  constructor(readonly spec: DaemonSpec) {
    this.stateDir = path.join(spec.dir, 'state');
    this.cfgFile = path.join(spec.dir, 'ambientd.json');
    this.logFile = path.join(spec.dir, 'daemon.log');
    fs.mkdirSync(this.stateDir, { recursive: true });
    fs.writeFileSync(
      this.cfgFile,
      JSON.stringify({ ...spec.config, stateDir: this.stateDir, log: { level: 'warn' } }, null, 2),
    );
  }

  get up(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Mints a ztunnel bootstrap token from the state dir's issuer key (created here once, reused by the daemon). */
  mintToken(): string {
    this.token = execFileSync(
      'env',
      [
        '-u',
        'NODE_OPTIONS',
        process.execPath,
        MAIN_JS,
        'token',
        'create',
        '--state-dir',
        this.stateDir,
        '--namespace',
        'istio-system',
        '--service-account',
        'ztunnel',
        '--ttl',
        '24h',
      ],
      { encoding: 'utf8' },
    ).trim();
    return this.token;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const fd = fs.openSync(this.logFile, 'a');
    const child = spawn(
      'env',
      ['-u', 'NODE_OPTIONS', process.execPath, ...DAEMON_NODE_FLAGS, MAIN_JS, 'serve', '--config', this.cfgFile],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', fd, fd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      },
    );
    fs.closeSync(fd);
    this.child = child;
    this.paused = false;
    this.starts++;
    let exited: string | undefined;
    child.once(
      'exit',
      (code, sig) => (exited = `${this.spec.name} exited (${code ?? sig}) during start-up; see ${this.logFile}`),
    );
    await waitFor(async () => exited !== undefined || this.ready(), {
      timeoutMs,
      what: `${this.spec.name} ready`,
      intervalMs: 50,
    });
    if (exited) throw new Error(exited);
  }

  async ready(): Promise<boolean> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.spec.debugPort}/ready`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200;
    } catch {
      return false;
    }
  }

  async debug<T>(p: string): Promise<T | undefined> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.spec.debugPort}${p}`, { signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) return undefined;
      return (await r.json()) as T;
    } catch {
      return undefined;
    }
  }

  pause(): void {
    if (!this.up || this.paused) return;
    this.child!.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.up) this.child!.kill('SIGCONT');
  }

  /** kill -9 (works on a stopped process too) and wait for the exit. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || !this.up) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await exited;
    this.paused = false;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || !this.up) return;
    this.resume();
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
}
