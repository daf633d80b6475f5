import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import { pinnedCommand } from './pin';

/** The real daemon binary as its own process, so its CPU and RSS are measured alone. */
export interface DaemonProc {
  proc: ChildProcess;
  pid: number;
  grpcPort: number;
  rootCaPem: string;
  token: string;
  stateDir: string;
  logFile: string;
  stop(): Promise<number | null>;
  /** Full GC in the daemon (SIGUSR2; needs --expose-gc), then its memory: heap+external and RSS. */
  memory(): Promise<{ heapUsed: number; external: number; arrayBuffers: number; rss: number }>;
}

/**
 * Every simulated ztunnel of a bench run connects from 127.0.0.1, unlike a mesh where each node has its own
 * address: the bench daemons lift the per-source connection limit (xds.maxConnectionsPerSource, default 128).
 */
export const BENCH_CONNECTIONS_PER_SOURCE = 100_000;

// The daemon from the same build as this file (dist/ normally; a build into another
// outDir benchmarks itself, so one engineer's bench never picks up another's rebuild).
const BUILD = path.resolve(__dirname, '..', '..');
export const MAIN = path.join(BUILD, 'cmd', 'ambientd', 'main.js');

/**
 * Writes a daemon's config file (`stateDir` under dir, then `config`) and mints a ztunnel node token with the
 * daemon's own CLI. The token comes first: the issuer key is created once in the state dir and the daemon reuses it.
 */
export function prepareDaemonDir(
  dir: string,
  config: Record<string, unknown>,
): { stateDir: string; cfgFile: string; token: string } {
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir, { recursive: true });
  const cfgFile = path.join(dir, 'ambientd.yaml');
  fs.writeFileSync(cfgFile, JSON.stringify({ stateDir, ...config }, null, 2));
  const tokenArgs = ['token', 'create', '--state-dir', stateDir, '--namespace', 'istio-system'];
  const token = execFileSync('node', [MAIN, ...tokenArgs, '--service-account', 'ztunnel', '--ttl', '24h'], {
    encoding: 'utf8',
  }).trim();
  return { stateDir, cfgFile, token };
}

/**
 * node's options for a bench daemon: --expose-gc (memory()), then the options the CLI ships with (its shebang,
 * cmd/ambientd/node-flags.ts) so the bench measures what ships, then a rig's diagnosis options, which win (V8
 * keeps an option's last value).
 */
export function daemonNodeArgs(extra: readonly string[] = []): string[] {
  return ['--expose-gc', ...shebangNodeFlags(MAIN), ...extra];
}

export async function startDaemonProc(o: {
  dir: string;
  config: Record<string, unknown>;
  logDir: string;
  name?: string;
  extraArgs?: string[];
  nodeArgs?: string[];
  /** Run under `taskset -c cpus` (bench/lib/pin.ts). */
  cpus?: string;
}): Promise<DaemonProc> {
  const { stateDir, cfgFile, token } = prepareDaemonDir(o.dir, { log: { level: 'warn' }, ...o.config });
  const logFile = path.join(o.logDir, `${o.name ?? 'daemon'}.log`);
  fs.mkdirSync(o.logDir, { recursive: true });
  const log = fs.createWriteStream(logFile);
  // cpus: under `taskset -c cpus`, which execs node (same pid, so /proc figures are the daemon's).
  const nodeArgs = [...daemonNodeArgs(o.nodeArgs), MAIN, 'serve', '--config', cfgFile, '--log-level', 'info'];
  const run = pinnedCommand('node', [...nodeArgs, ...(o.extraArgs ?? [])], o.cpus);
  const proc = spawn(run.cmd, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.pipe(log);
  const rl = readline.createInterface({ input: proc.stdout });
  const lineWaiters: ((j: Record<string, unknown>) => boolean)[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start; see ${logFile}`)), 120_000);
    let grpcPort = 0;
    rl.on('line', (line) => {
      log.write(line + '\n');
      try {
        const j = JSON.parse(line) as { msg?: string; port?: number; grpcPort?: number };
        for (let i = lineWaiters.length - 1; i >= 0; i--) if (lineWaiters[i]!(j)) lineWaiters.splice(i, 1);
        if (j.msg === 'gRPC TLS server listening') grpcPort = j.port ?? 0;
        if (j.msg === 'ambientd serving') {
          clearTimeout(timer);
          resolve(j.grpcPort ?? grpcPort);
        }
      } catch {
        /* non-JSON line */
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}; see ${logFile}`));
    });
  });
  const ca = path.join(stateDir, 'ca');
  const rootFile = fs.existsSync(path.join(ca, 'root-cert.pem')) ? path.join(ca, 'root-cert.pem') : findRoot(stateDir);
  return {
    proc,
    pid: proc.pid!,
    grpcPort: port,
    rootCaPem: fs.readFileSync(rootFile, 'utf8'),
    token,
    stateDir,
    logFile,
    memory: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no memory report from daemon')), 30_000);
        lineWaiters.push((j) => {
          if (j.msg !== 'memory usage') return false;
          clearTimeout(timer);
          const m = j.memory as { heapUsed: number; external: number; arrayBuffers: number; rss: number };
          resolve(m);
          return true;
        });
        proc.kill('SIGUSR2');
      }),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return void resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill('SIGTERM');
      }),
  };
}

function findRoot(stateDir: string): string {
  const stack = [stateDir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (/root.*\.pem$/.test(e.name) && !/key/.test(e.name)) return p;
    }
  }
  throw new Error(`no root certificate under ${stateDir}`);
}
