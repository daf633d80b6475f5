import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';

/** The repository root (this file runs from dist/e2e/ship/). */
export const REPO_ROOT = path.resolve(__dirname, '../../..');
/** The compiled CLI, exactly what `make build` produces and `bin` points at. */
export const MAIN_JS = path.join(REPO_ROOT, 'dist/cmd/ambientd/main.js');

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A real ambientd process: stdout parsed as pino JSON lines, stderr kept as
 * text, and bounded waits on both (never a sleep).
 */
export interface AmbientdProcess {
  child: ChildProcess;
  logs: LogLine[];
  /** The JSON lines as written (JSON.parse hides a repeated key; tests check these). */
  jsonLines: string[];
  /** stdout lines that were not JSON (there should be none in serve mode). */
  plain: string[];
  stderr(): string;
  exit?: Exit;
  waitLog(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number, from?: number): Promise<LogLine>;
  waitMsg(msg: string, timeoutMs?: number, from?: number): Promise<LogLine>;
  waitExit(timeoutMs?: number): Promise<Exit>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if still running (teardown). */
  kill(): void;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  uid?: number;
  gid?: number;
  /** The command line: defaults to `node <the CLI's shebang options> <repo>/dist/cmd/ambientd/main.js`. */
  command?: readonly string[];
}

/** A minimal environment so the host's AMBIENTD_* / istiod variables never leak into a test. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ...extra };
}

/**
 * tap's processinfo wraps child_process.spawn and injects NODE_OPTIONS
 * (--import hooks that also write .tap/ files at exit, which an unprivileged
 * child cannot). `env -u NODE_OPTIONS` execs the command without them, so the
 * daemon runs exactly as in production; env exec()s, so the pid is the daemon's.
 */
export function spawnAmbientd(args: readonly string[], o: SpawnOptions = {}): AmbientdProcess {
  const command = o.command ?? [process.execPath, ...shebangNodeFlags(MAIN_JS), MAIN_JS];
  const child = spawn('env', ['-u', 'NODE_OPTIONS', ...command, ...args], {
    cwd: o.cwd ?? REPO_ROOT,
    env: o.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid ?? o.uid } : {}),
  });
  const logs: LogLine[] = [];
  const jsonLines: string[] = [];
  const plain: string[] = [];
  let err = '';
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
        jsonLines.push(line);
      } catch {
        plain.push(line);
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (err += d));
  const p: AmbientdProcess = {
    child,
    logs,
    jsonLines,
    plain,
    stderr: () => err,
    waitLog(pred, what, timeoutMs = 15_000, from = 0) {
      return bounded(
        () => {
          for (let i = from; i < logs.length; i++) if (pred(logs[i]!)) return logs[i]!;
          if (p.exit)
            throw new Error(`process exited (${JSON.stringify(p.exit)}) before ${what}; stderr: ${err.trim()}`);
          return undefined;
        },
        timeoutMs,
        what,
      );
    },
    waitMsg(msg, timeoutMs, from) {
      return p.waitLog((l) => l.msg === msg, `log "${msg}"`, timeoutMs, from);
    },
    waitExit(timeoutMs = 15_000) {
      return bounded(() => p.exit, timeoutMs, 'process exit');
    },
    signal(sig) {
      child.kill(sig);
    },
    kill() {
      if (!p.exit) child.kill('SIGKILL');
    },
  };
  // 'close' (not 'exit'): stdout/stderr are fully read by then.
  child.on('close', (code, signal) => (p.exit = { code, signal }));
  return p;
}

/**
 * Polls cond until it returns a value (bounded). Unlike lifecycle's waitFor,
 * a throw ends the wait at once: a daemon that exited will never log.
 */
function bounded<T>(cond: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const deadline = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    const tick = setInterval(check, 5);
    function finish(e?: Error, v?: T): void {
      clearTimeout(deadline);
      clearInterval(tick);
      if (e) reject(e);
      else resolve(v as T);
    }
    function check(): void {
      let v: T | undefined;
      try {
        v = cond();
      } catch (e) {
        finish(e as Error);
        return;
      }
      if (v !== undefined) finish(undefined, v);
    }
    check();
  });
}

/** Runs the CLI to completion (bounded) and returns exit + output. */
export async function runAmbientd(
  args: readonly string[],
  o: SpawnOptions = {},
  timeoutMs = 15_000,
): Promise<{ exit: Exit; stdout: string; stderr: string; proc: AmbientdProcess }> {
  const proc = spawnAmbientd(args, o);
  try {
    const exit = await proc.waitExit(timeoutMs);
    return {
      exit,
      stdout: [...proc.plain, ...proc.logs.map((l) => JSON.stringify(l))].join('\n'),
      stderr: proc.stderr(),
      proc,
    };
  } finally {
    proc.kill();
  }
}

/** Flags that keep a daemon on loopback, ephemeral ports and the given dirs. */
export function loopbackFlags(stateDir: string, registryDir: string): string[] {
  return [
    '--cluster-id=c1',
    '--xds-listen=127.0.0.1:0',
    '--admin-metrics-listen=127.0.0.1:0',
    '--admin-debug-listen=127.0.0.1:0',
    `--state-dir=${stateDir}`,
    `--registry-dir=${registryDir}`,
    '--ca-root-key-type=ec',
  ];
}

/** A temp dir removed at teardown; world-traversable so an unprivileged child can reach what the test grants it. */
export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'ambientd-ship-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * File permissions do not stop root, so when the suite runs as root the
 * permission tests run the daemon as nobody (65534) instead.
 */
export function unprivileged(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
}

let install: string | undefined;

/**
 * What `node dist/cmd/ambientd/main.js` needs, copied to a world-readable temp dir (copied, not linked:
 * making a hard link readable would change the checkout's own file): package.json, proto/, dist/cmd,
 * dist/pkg and the production dependencies the lockfile lists. A daemon run as another user starts from
 * there, so the tests pass wherever the checkout lives (a clone under a 0700 home is unreadable to nobody).
 * Made once per test file, removed at exit. Returns the SpawnOptions that run the copy.
 */
export function readableInstall(): Pick<SpawnOptions, 'command' | 'cwd'> {
  if (!install) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-install-'));
    process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
    const lockFile = path.join(REPO_ROOT, 'package-lock.json');
    const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    // Top-level production packages; nested node_modules come with their parent directory.
    const deps = Object.entries(lock.packages)
      .filter(([k, v]) => k.startsWith('node_modules/') && !v.dev)
      .filter(([k]) => !k.slice('node_modules/'.length).includes('/node_modules/'))
      .map(([k]) => k);
    const copy = (rel: string): void => {
      const to = path.join(root, rel);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      execFileSync('cp', ['-a', path.join(REPO_ROOT, rel), to]);
    };
    for (const rel of ['package.json', 'proto', 'dist/cmd', 'dist/pkg', ...deps]) copy(rel);
    execFileSync('chmod', ['-R', 'a+rX', root]);
    install = root;
  }
  return { command: [process.execPath, path.join(install, 'dist/cmd/ambientd/main.js')], cwd: install };
}

export const MINI_MESH = `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, serviceAccountName: web, containers: [{ name: c }] }
status: { phase: Running, podIP: 10.0.0.5, conditions: [{ type: Ready, status: "True" }] }
`;

/**
 * The node options a running daemon was started with: its command line between node and the script, which is
 * main.js or, through the npm bin, the bin's path (`env`, `sh` and the kernel's shebang handling all exec, so
 * the pid a test spawned is node's by then).
 */
export function nodeOptionsOf(pid: number): string[] {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  if (!/(^|\/)node$/.test(argv[0]!) || script < 1) throw new Error(`pid ${pid} is not node: ${argv.join(' ')}`);
  return argv.slice(1, script);
}

/**
 * Processes whose command line has `arg` as one of its words (a temp state dir, say): how a test finds
 * the daemon tools/run-daemon.sh started in a process group of its own, to make sure nothing outlives it.
 */
export function processesUsing(arg: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(arg)) pids.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
