import { execFile, spawnSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * istiod's side of the istiod scenario: the test binaries tools/istio/ensure.sh
 * builds from istio/istio, run one benchmark per process with GOMAXPROCS=1 and
 * a fixed iteration count (`-test.benchtime=<n>x`; Go runs b.N = 1 first, then n).
 */
export interface IstiodBins {
  dir: string;
  xds: string;
  ca: string;
  xdsCwd: string;
}

/** Finds or builds the binaries; a string is the reason they cannot be had (the scenario skips with it). */
export function ensureIstiod(repoRoot: string, env: NodeJS.ProcessEnv = process.env): IstiodBins | string {
  const script = path.join(repoRoot, 'tools', 'istio', 'ensure.sh');
  const r = spawnSync('bash', [script], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    const lines = (r.stderr ?? '')
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '');
    const why = lines.filter((l) => l.startsWith('istio/ensure.sh:')).pop() ?? lines.pop() ?? `exit ${r.status}`;
    return `tools/istio/ensure.sh failed: ${why}`;
  }
  const dir = r.stdout.trim().split('\n').pop() ?? '';
  return {
    dir,
    xds: path.join(dir, 'bin', 'xds.test'),
    ca: path.join(dir, 'bin', 'ca.test'),
    // bench_test.go reads testdata/benchmarks/*.yaml relative to the package directory.
    xdsCwd: path.join(dir, 'src', 'pilot', 'pkg', 'xds'),
  };
}

export interface GoBench {
  name: string;
  n: number;
  nsPerOp: number;
  metrics: Record<string, number>;
}

/** Parses `go test -bench` result lines ("BenchmarkX/sub-1  500  2098000 ns/op  1102 resources/msg"). */
export function parseGoBench(out: string): GoBench[] {
  const res: GoBench[] = [];
  for (const line of out.split('\n')) {
    const m = /^(Benchmark\S+)\s+(\d+)\s+([\d.e+]+) ns\/op(.*)$/.exec(line.trim());
    if (!m) continue;
    const metrics: Record<string, number> = {};
    for (const mm of (m[4] ?? '').matchAll(/([\d.e+]+) (\S+)/g)) metrics[mm[2]!] = Number(mm[1]);
    res.push({ name: m[1]!.replace(/-\d+$/, ''), n: Number(m[2]), nsPerOp: Number(m[3]), metrics });
  }
  return res;
}

/** Runs one benchmark (regexp) of a test binary; resolves with the parsed result lines. */
export function runGoBench(bin: string, cwd: string, bench: string, iterations: number): Promise<GoBench[]> {
  const args = [
    '-test.run',
    '^$',
    '-test.bench',
    bench,
    '-test.benchtime',
    `${iterations}x`,
    '-test.benchmem',
    '-test.count',
    '1',
    '-test.timeout',
    '20m',
  ];
  return new Promise((resolve, reject) => {
    const opts = { cwd, env: { ...process.env, GOMAXPROCS: '1' }, maxBuffer: 16 << 20 };
    execFile(bin, args, opts, (err, stdout, stderr) => {
      const got = parseGoBench(stdout);
      if (err || got.length === 0) {
        const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-5).join(' | ');
        const why = err ? err.message.split('\n')[0] : 'no result';
        reject(new Error(`${path.basename(bin)} -test.bench ${bench}: ${why}: ${tail}`));
        return;
      }
      resolve(got);
    });
  });
}
