import * as fs from 'node:fs';
import * as os from 'node:os';

/** CPU (user+sys, ms) and RSS (bytes) of one process, read from /proc. */
export interface ProcSample {
  at: number;
  cpuMs: number;
  rssBytes: number;
}

const TICK_MS = 1000 / 100; // CLK_TCK is 100 on Linux/x86_64

export function sampleProc(pid: number): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised comm; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  return { at: performance.now(), cpuMs: (utime + stime) * TICK_MS, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}

/**
 * CPU seconds of the live threads of `pid` at nanosecond resolution (the first field of each
 * /proc/<pid>/task/<tid>/schedstat), for phases too short for the 10 ms ticks of /proc/<pid>/stat.
 */
export function threadCpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1e9;
}

/** Percent of one core used between two samples. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const wall = b.at - a.at;
  return wall > 0 ? (100 * (b.cpuMs - a.cpuMs)) / wall : 0;
}

export function machineInfo(): Record<string, unknown> {
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    // 1/5/15-minute load averages when the result is written: the machine may be shared, which moves every figure.
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}
