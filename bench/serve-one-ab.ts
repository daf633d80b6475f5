/**
 * The istiod scenario's serve-one loop (bench/sim/istiod-equiv.ts serveOne: one ResourceCache.commit of a
 * pre-encoded changed Address, then XdsStream.flush of a caught-up wildcard stream into a sink) of this build
 * against the same loop of another build (`--baseline DIR`, a dist tree, e.g. main's), both in this one process,
 * in alternating windows: on a shared, noisy machine separate processes spread more than the changes measured
 * (docs/design/serve-one.md, fourth pass). Each side is set up as istiod-equiv sets it up (the mesh translated and
 * encoded, 300 full responses served first). Figures: CPU (and wall) µs per op of each window; min and median over
 * the windows; ratio = this build / baseline (< 1: this build is cheaper); the load average at the end.
 *
 *   node dist/bench/serve-one-ab.js --baseline /tmp/base/dist [--windows 20] [--ops 100000] [--sink parts|framed]
 *     → one JSON object on stdout
 *
 * `--sink parts`: the sink of istiod-equiv (parts handed over uncopied); `framed`: a sink offering writeFramed with
 * the transport's 5-byte prefix room, as the gRPC transport does (the response built whole, the frame copied in).
 */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import * as lifecycle from '../pkg/lifecycle';
import * as log from '../pkg/log';
import * as push from '../pkg/push';
import * as registry from '../pkg/registry';
import * as translate from '../pkg/translate';
import * as wire from '../pkg/wire';
import * as xds from '../pkg/xds';
import * as shape from './lib/istiod-shape';
import { serveSetup } from './lib/serve-one-setup';

/** The modules the loop is built from, from one build (the setup's code is this build's: bench/lib/serve-one-setup). */
interface Build {
  lifecycle: Pick<typeof lifecycle, 'systemClock'>;
  log: Pick<typeof log, 'createSilentLogger'>;
  push: Pick<typeof push, 'Encoder' | 'fullDelta'>;
  registry: Pick<typeof registry, 'LocalRegistry'>;
  translate: Pick<typeof translate, 'generateLocal'>;
  wire: Pick<typeof wire, 'decodeDeltaRequest' | 'loadWire' | 'TYPE_ADDRESS'>;
  xds: Pick<typeof xds, 'createXdsMetrics' | 'ResourceCache' | 'XdsStream'>;
  shape: Pick<typeof shape, 'istiodShapeObjects'>;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** The serve-one loop over one build: `run(n)` serves n changes. */
function serveOneLoop(b: Build, framed: boolean): (n: number) => void {
  const mesh = {
    clusterId: 'Kubernetes',
    network: '',
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    rootNamespace: 'istio-system',
  };
  const logger = b.log.createSilentLogger();
  const clock = b.lifecycle.systemClock;
  const w = b.wire.loadWire();
  const TYPE = b.wire.TYPE_ADDRESS;
  const reg = new b.registry.LocalRegistry({ logger, clock });
  reg.replaceSource(
    'bench',
    b.shape.istiodShapeObjects().map((obj) => ({ obj })),
  );
  const addresses = b.translate.generateLocal({ snapshot: reg.snapshot(), mesh }).output.addresses;
  const types = new Map([[TYPE, w.Address]]);
  const upserts = new b.push.Encoder(w, types).encode(b.push.fullDelta(TYPE, addresses)).upserts ?? [];
  const metrics = b.xds.createXdsMetrics(new Registry());
  const sink: xds.StreamSink = framed
    ? { write: (_b, done) => done(), close: fail, headroom: 5, writeFramed: (_b, done) => done() }
    : { write: (_b, done) => done(), close: fail };
  const { cache, initial, streamOf, variants } = serveSetup(b, {
    wire: w,
    addresses,
    upserts,
    stream: { sink, logger, clock, metrics },
  });
  for (let i = 0; i < 300; i++) {
    const s = streamOf(`full-${i}`);
    s.onRequest(initial);
    s.flush();
    s.dispose();
  }
  const caught = streamOf('caught-up');
  caught.onRequest(initial);
  caught.flush();
  let flip = 0;
  return (n) => {
    for (let i = 0; i < n; i++) {
      cache.commit([{ typeUrl: TYPE, upserts: [variants[flip++ & 1]!] }]);
      caught.flush();
    }
  };
}

function fail(code: number, details: string): void {
  throw new Error(`the measured stream was closed: ${code} ${details}`);
}

/** CPU and wall µs per op of one window of `ops`. */
function window(run: (n: number) => void, ops: number): { cpu: number; wall: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  run(ops);
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / ops, wall: ((performance.now() - t0) * 1000) / ops };
}

function main(): void {
  const base = arg('baseline');
  if (!base)
    throw new Error('usage: serve-one-ab.js --baseline DIST [--windows 20] [--ops 100000] [--sink parts|framed]');
  const windows = Number(arg('windows') ?? 20);
  const ops = Number(arg('ops') ?? 100_000);
  const framed = (arg('sink') ?? 'parts') === 'framed';
  // A build chosen at run time, hence a require (Node's createRequire) rather than an import.
  const load = createRequire(__filename);
  const from = (m: string): string => path.resolve(base, m);
  const baseline: Build = {
    lifecycle: load(from('pkg/lifecycle')) as Build['lifecycle'],
    log: load(from('pkg/log')) as Build['log'],
    push: load(from('pkg/push')) as Build['push'],
    registry: load(from('pkg/registry')) as Build['registry'],
    translate: load(from('pkg/translate')) as Build['translate'],
    wire: load(from('pkg/wire')) as Build['wire'],
    xds: load(from('pkg/xds')) as Build['xds'],
    shape: load(from('bench/lib/istiod-shape')) as Build['shape'],
  };
  const sides = [
    { name: 'current', run: serveOneLoop({ lifecycle, log, push, registry, translate, wire, xds, shape }, framed) },
    { name: 'baseline', run: serveOneLoop(baseline, framed) },
  ];
  for (const s of sides) window(s.run, ops); // warm-up window each
  const samples = sides.map(() => ({ cpu: [] as number[], wall: [] as number[] }));
  for (let i = 0; i < windows; i++) {
    // Alternating which side goes first, so drifting load hits both alike.
    for (let k = 0; k < sides.length; k++) {
      const j = (k + i) % sides.length;
      const f = window(sides[j]!.run, ops);
      samples[j]!.cpu.push(f.cpu);
      samples[j]!.wall.push(f.wall);
    }
  }
  const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const fig = (xs: number[]): { min: number; median: number } => {
    const s = sorted(xs);
    return { min: r3(s[0]!), median: r3(s[s.length >> 1]!) };
  };
  const [cur, old] = samples.map((s) => ({ cpuUs: fig(s.cpu), wallUs: fig(s.wall) }));
  const out = {
    sink: framed ? 'framed' : 'parts',
    windows,
    ops,
    current: cur!,
    baseline: old!,
    ratioMin: r3(cur!.cpuUs.min / old!.cpuUs.min),
    ratioMedian: r3(cur!.cpuUs.median / old!.cpuUs.median),
    load: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (require.main === module) main();
