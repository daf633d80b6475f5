/**
 * Scenario `istiod` (issue 20 target 7; opt-in: `make bench-full SCENARIO=istiod`): istiod's own Go
 * benchmarks, built by tools/istio/ensure.sh from a pinned istio/istio, side by side with ambientd's
 * equivalents on the same mesh shape (istiod's `serviceentry-workloadentry`: 1,102 Address resources;
 * bench/lib/istiod-shape.ts). Each round runs every istiod benchmark (one process each, GOMAXPROCS=1)
 * and one ambientd process (bench/sim/istiod-equiv.ts, public pkg/ APIs only), alternating which side
 * goes first; ≥ 3 rounds; min and median per side; ratio = how many times ambientd is ahead (> 1: ahead).
 * Both sides are single-threaded (GOMAXPROCS=1 / one Node thread) and timed by wall clock per operation
 * (Go's ns/op); ambientd's process CPU per operation is recorded next to it.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureIstiod, runGoBench, type GoBench, type IstiodBins } from '../lib/istiod-go';
import { percentile } from '../lib/proc';
import type { EquivResult, OpFigure } from '../sim/istiod-equiv';
import type { Figure, ScenarioResult } from '../lib/types';

const SIZES = {
  quick: { rounds: 3, minMs: 500, iters: { full: 300, incr: 100_000, encode: 300, rsa: 300, p256: 1000 } },
  full: { rounds: 5, minMs: 2000, iters: { full: 1000, incr: 300_000, encode: 1000, rsa: 1000, p256: 3000 } },
} as const;
type Iters = (typeof SIZES)[keyof typeof SIZES]['iters'];

const CASE = 'serviceentry-workloadentry';
const GO = {
  full: `BenchmarkAddressFullGeneration/${CASE}`,
  incr: `BenchmarkAddressIncrementalGeneration/${CASE}`,
  encode: 'BenchmarkAmbientdAddressEncode/addressinfo',
  encodeFramed: 'BenchmarkAmbientdAddressEncode/addressinfo+resource',
  rsa: 'BenchmarkAmbientdSignPath/rsa2048',
  p256: 'BenchmarkAmbientdSignPath/p256',
};

interface RowDef {
  key: string;
  what: string;
  /** 'us': time per operation (lower is better); 'per_s': signatures per second of one thread (higher is better). */
  unit: 'us' | 'per_s';
  istiod?: (g: Map<string, GoBench>) => number;
  istiodFrom?: string;
  ambientd: (a: EquivResult) => number;
  ambientdCpu: (a: EquivResult) => number;
  ambientdFrom: string;
}

const us = (g: Map<string, GoBench>, name: string): number => (g.get(name)?.nsPerOp ?? NaN) / 1000;
const perS = (g: Map<string, GoBench>, name: string): number => 1e9 / (g.get(name)?.nsPerOp ?? NaN);

/** A row istiod does not isolate: ambientd's time per operation alone. */
const ambientdOnly = (key: string, what: string, op: (a: EquivResult) => OpFigure, from: string): RowDef => ({
  key,
  what,
  unit: 'us',
  ambientd: (a) => op(a).wallUs,
  ambientdCpu: (a) => op(a).cpuUs,
  ambientdFrom: from,
});

const ROWS: RowDef[] = [
  {
    key: 'serve_full',
    what: 'serve the pre-built Addresses to a new wildcard client (+ serialize)',
    unit: 'us',
    istiod: (g) => us(g, GO.full),
    istiodFrom: GO.full,
    ambientd: (a) => a.serveFull.wallUs,
    ambientdCpu: (a) => a.serveFull.cpuUs,
    ambientdFrom: 'XdsStream initial wildcard request → one DeltaDiscoveryResponse from the ResourceCache',
  },
  {
    key: 'encode_all',
    what: 'encode every resource (protobuf + content hash (+ frame: ambientd))',
    unit: 'us',
    istiod: (g) => us(g, GO.encode),
    istiodFrom: `${GO.encode} (model.NewAddressInfo: MessageToAny + xxhash)`,
    ambientd: (a) => a.encodeAll.wallUs,
    ambientdCpu: (a) => a.encodeAll.cpuUs,
    ambientdFrom: 'a fresh push Encoder.diff over every Address',
  },
  {
    key: 'serve_one',
    what: 'serve one changed workload (+ serialize)',
    unit: 'us',
    istiod: (g) => us(g, GO.incr),
    istiodFrom: GO.incr,
    ambientd: (a) => a.serveOne.wallUs,
    ambientdCpu: (a) => a.serveOne.cpuUs,
    ambientdFrom: 'ResourceCache.commit of one pre-encoded entry + caught-up XdsStream.flush',
  },
  ambientdOnly(
    'serve_one_floor',
    "serve one's floor in Node (one Map.set + one response-sized buffer to the sink)",
    (a) => a.serveOneFloor,
    'Map.set of the changed entry + Buffer.allocUnsafe + the frame copied + sink.write',
  ),
  ambientdOnly(
    'translate',
    'translate the model into Address messages',
    (a) => a.translate,
    'generateLocal, full, from the registry snapshot',
  ),
  ambientdOnly(
    'change_path',
    'whole per-change path (registry event → generate → encode → commit → respond)',
    (a) => a.changePath,
    'LocalRegistry.applyEvents + incremental generateLocal + Encoder.diff + commit + flush',
  ),
  {
    key: 'sign_rsa2048',
    what: 'CA sign path, RSA-2048 CA key, per s of one thread (in-process)',
    unit: 'per_s',
    istiod: (g) => perS(g, GO.rsa),
    istiodFrom: `${GO.rsa} (IstioCA.Sign)`,
    ambientd: (a) => 1e6 / a.signRsa2048.wallUs,
    ambientdCpu: (a) => 1e6 / a.signRsa2048.cpuUs,
    ambientdFrom: 'Authority.sign (pkg/ca)',
  },
  {
    key: 'sign_p256',
    what: 'CA sign path, P-256 CA key, per s of one thread (in-process)',
    unit: 'per_s',
    istiod: (g) => perS(g, GO.p256),
    istiodFrom: `${GO.p256} (IstioCA.Sign)`,
    ambientd: (a) => 1e6 / a.signP256.wallUs,
    ambientdCpu: (a) => 1e6 / a.signP256.cpuUs,
    ambientdFrom: 'Authority.sign (pkg/ca)',
  },
];

async function istiodRound(b: IstiodBins, it: Iters): Promise<Map<string, GoBench>> {
  const out = new Map<string, GoBench>();
  const runs: [string, string, string, number][] = [
    [b.xds, b.xdsCwd, '^BenchmarkAddressFullGeneration$', it.full],
    [b.xds, b.xdsCwd, '^BenchmarkAddressIncrementalGeneration$', it.incr],
    [b.xds, b.xdsCwd, '^BenchmarkAmbientdAddressEncode$', it.encode],
    [b.ca, path.dirname(b.ca), '^BenchmarkAmbientdSignPath$/^rsa2048$', it.rsa],
    [b.ca, path.dirname(b.ca), '^BenchmarkAmbientdSignPath$/^p256$', it.p256],
  ];
  for (const [bin, cwd, re, n] of runs) for (const r of await runGoBench(bin, cwd, re, n)) out.set(r.name, r);
  return out;
}

function ambientdRound(minMs: number): EquivResult {
  const child = path.join(__dirname, '..', 'sim', 'istiod-equiv.js');
  const out = execFileSync(process.execPath, [child, JSON.stringify({ minMs })], { maxBuffer: 1 << 20 });
  return JSON.parse(out.toString()) as EquivResult;
}

const stat = (xs: number[], better: 'low' | 'high') => ({
  best: better === 'low' ? Math.min(...xs) : Math.max(...xs),
  median: percentile(xs, 50),
  rounds: xs,
});
const r3 = (x: number): number => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const size = SIZES[o.mode];
  const repoRoot = path.resolve(__dirname, '..', '..', '..');
  const params = {
    mode: o.mode,
    rounds: size.rounds,
    ambientdMinMs: size.minMs,
    goIterations: size.iters,
    shape: `${CASE} (100 services × 4 ports, 1,000 WorkloadEntries, as Kubernetes Services)`,
  };
  const bins = ensureIstiod(repoRoot);
  if (typeof bins === 'string') return { scenario: 'istiod', params, figures: [], notes: [`skipped: ${bins}`] };
  const go: Map<string, GoBench>[] = [];
  const amb: EquivResult[] = [];
  const load: number[][] = [];
  for (let r = 0; r < size.rounds; r++) {
    // Alternate which side goes first, so a drift in background load hits both alike.
    if (r % 2 === 0) go.push(await istiodRound(bins, size.iters));
    amb.push(ambientdRound(size.minMs));
    if (r % 2 === 1) go.push(await istiodRound(bins, size.iters));
    load.push(os.loadavg().map((l) => Math.round(l * 100) / 100));
  }
  const resources = go[0]!.get(GO.full)?.metrics['resources/msg'];
  const figures: Figure[] = [];
  const rows = ROWS.map((d) => {
    const better = d.unit === 'us' ? 'low' : 'high';
    const a = stat(amb.map(d.ambientd), better);
    const aCpu = stat(amb.map(d.ambientdCpu), better);
    const i = d.istiod ? stat(go.map(d.istiod), better) : undefined;
    // > 1: ambientd ahead (less time per operation, or more signatures per second).
    const ratio = i ? (d.unit === 'us' ? i.best / a.best : a.best / i.best) : undefined;
    const ratioMedian = i ? (d.unit === 'us' ? i.median / a.median : a.median / i.median) : undefined;
    const unit = d.unit === 'us' ? 'us' : 'signatures/s';
    if (i) figures.push({ name: `${d.key}_istiod`, value: i.best, unit });
    figures.push({ name: `${d.key}_ambientd`, value: a.best, unit });
    const cpuUnit = d.unit === 'us' ? 'us cpu' : 'signatures/cpu-s';
    figures.push({ name: `${d.key}_ambientd_cpu`, value: aCpu.best, unit: cpuUnit });
    if (ratio !== undefined) {
      figures.push({ name: `${d.key}_ratio`, value: ratio, unit: 'x', target: { op: '>=', value: 1 } });
    }
    return {
      key: d.key,
      what: d.what,
      unit,
      istiod: i ?? null,
      istiodFrom: d.istiodFrom ?? 'not isolated upstream',
      ambientd: a,
      ambientdCpu: aCpu,
      ambientdFrom: d.ambientdFrom,
      ratio: ratio ?? null,
      ratioMedian: ratioMedian ?? null,
      loadAverage: load,
    };
  });
  const perRes = (k: string): string => {
    const row = rows.find((x) => x.key === k)!;
    return (
      `${r3(row.ambientd.best / amb[0]!.addresses)} µs/resource` +
      (row.istiod ? ` (istiod ${r3(row.istiod.best / amb[0]!.addresses)})` : '')
    );
  };
  const notes = [
    `${amb[0]!.addresses} Address resources on ambientd's side, ${resources ?? '?'} in istiod's full generation; ` +
      `full response ${amb[0]!.responseBytes} B ` +
      `(istiod ${go[0]!.get(GO.full)?.metrics['kb/msg'] ?? '?'} kB of resources)`,
    'min of rounds (median in bench/results/istiod.json); ratio > 1: ambientd ahead',
    '| what | istiod | ambientd | ambientd vs istiod |',
    '|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${x.what} | ${x.istiod ? `${r3(x.istiod.best)} ${x.unit}` : '—'} | ` +
        `${r3(x.ambientd.best)} ${x.unit} (cpu ${r3(x.ambientdCpu.best)}) | ` +
        `${x.ratio === null ? '—' : `${r3(x.ratio)}×`} |`,
    ),
    `encode per resource: ${perRes('encode_all')}; translate per resource: ${perRes('translate')}`,
    'istiod encode with a discovery.Resource frame marshalled too (MessageToAny): ' +
      `${r3(Math.min(...go.map((g) => us(g, GO.encodeFramed))))} us`,
    `load average per round: ${load.map((l) => l.join('/')).join(', ')}`,
    `istiod binaries: ${path.basename(bins.dir)} (tools/istio/ensure.sh)`,
  ];
  return Object.assign({ scenario: 'istiod', params, figures, notes }, { rows, loadAverage: load });
}
