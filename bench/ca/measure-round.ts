// One round of the ca scenario (bench/scenarios/ca.ts): a CA bench server child and the load generator
// (client.ts), with the server's CPU read from /proc at the load's phase marks.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { sampleProc, threadCpuSeconds } from '../lib/proc';

/** The load generator's final line (bench/ca/client.ts): the fields a round reads. */
interface ClientResult {
  sustained: { rate: number; done: number };
  burst: { wallMs: number[]; p99: number };
  errors: number;
}

/** One JSON line of bench/ca/client.ts: a phase mark, or (event 'result') the final result. */
type ClientLine = { event: 'phase-start' | 'phase-end'; phase: string } | ({ event: 'result' } & ClientResult);

function lines(child: ChildProcess, onLine: (o: ClientLine) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      try {
        onLine(JSON.parse(l) as ClientLine);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    child.on('exit', (code) => (code === 0 || code === null ? resolve() : reject(new Error(`child exited ${code}`))));
    child.on('error', reject);
  });
}

export interface Round {
  rate: number;
  perCpuSecond: number;
  serverCores: number;
  burstWallMs: number;
  /** CPU of the server and the load generator together over the burst phase, per burst. */
  burstCpuMs: number;
  burstP99: number;
  errors: number;
}

/** One server child (`script` with `args`) and one load-generator child; server CPU read at the phase marks. */
export async function measureRound(
  script: string,
  args: string[],
  load: Record<string, unknown>,
  logDir: string,
  tag: string,
  env: Record<string, string> = {},
): Promise<Round> {
  const here = __dirname; // dist/bench/ca
  const serverLog = fs.openSync(path.join(logDir, `ca-server-${tag}.stderr.log`), 'w');
  const clientLog = fs.openSync(path.join(logDir, `ca-client-${tag}.stderr.log`), 'w');
  // A script name is one of this build's bench/ca servers; an absolute path is another build's (BENCH_CA_BASELINE).
  const file = path.isAbsolute(script) ? script : path.join(here, script);
  const server = spawn(process.execPath, [file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', serverLog],
  });
  let client: ChildProcess | undefined;
  try {
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      readline
        .createInterface({ input: server.stdout! })
        .once('line', (l) => resolve(JSON.parse(l) as Record<string, unknown>));
      server.once('exit', (c) => reject(new Error(`${script} exited ${c} before ready`)));
    });
    const pid = server.pid!;
    client = spawn(process.execPath, [path.join(here, 'client.js'), JSON.stringify({ ...ready, ...load })], {
      stdio: ['ignore', 'pipe', clientLog],
    });
    const marks: Record<string, { cpu: number; both: number; t: number }> = {};
    let result: ClientResult | undefined;
    await lines(client, (o) => {
      if (o.event === 'phase-start' || o.event === 'phase-end') {
        marks[`${o.event}:${o.phase}`] = {
          cpu: sampleProc(pid).cpuMs / 1000,
          both: threadCpuSeconds(pid) + threadCpuSeconds(client!.pid!),
          t: performance.now(),
        };
      } else if (o.event === 'result') result = o;
    });
    if (!result) throw new Error('client produced no result');
    const s0 = marks['phase-start:sustained']!;
    const s1 = marks['phase-end:sustained']!;
    const b0 = marks['phase-start:burst']!;
    const b1 = marks['phase-end:burst']!;
    return {
      rate: result.sustained.rate,
      perCpuSecond: result.sustained.done / Math.max(1e-9, s1.cpu - s0.cpu),
      serverCores: (s1.cpu - s0.cpu) / ((s1.t - s0.t) / 1000),
      burstWallMs: Math.min(...result.burst.wallMs),
      burstCpuMs: ((b1.both - b0.both) * 1000) / result.burst.wallMs.length,
      burstP99: result.burst.p99,
      errors: result.errors,
    };
  } finally {
    client?.kill('SIGTERM');
    server.kill('SIGTERM');
    fs.closeSync(serverLog);
    fs.closeSync(clientLog);
  }
}
