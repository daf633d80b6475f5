/**
 * Translation cost (issue #20 target 3): pkg/translate's generateLocal on a
 * registry snapshot of the bench mesh (bench/lib/mesh-gen.ts; 50k workloads,
 * 1k services, 100 policies in both modes, since the target is stated at
 * 50k). Two figures: a full translation per resource (Addresses +
 * Authorizations), and one changed pod (new IP) translated incrementally
 * against the previous output. Next to them in every round, the floor
 * (bench/lib/translate-floor.ts): the same output messages allocated from
 * precomputed values, GC included, and translate's ratio to it per round;
 * and the inputs floor: every pod's fields a translation reads, read once
 * in the same order (docs/design/translate-floor.md). And the registry load
 * (normalising every object) per side, since a translation reuses what
 * normalisation derived (pod IP bytes): work moved there is reported there.
 *
 * Three more sides price the design that translates straight to bytes
 * (docs/design/encode-floor.md): `encoded`, the prototype
 * (bench/lib/translate-encoded.ts: every pod's Address message written into
 * an arena, the design's translation); `encode`, pkg/push's Encoder over
 * this round's translation (what a full push adds to it today); and
 * `encoded_entries`, what the design leaves the encoder (each pod's frame,
 * content version and cache entry: bench/lib/encoded-entries.ts), over a
 * fresh prototype output made before the side's GC.
 *
 * Runs in its own process (fresh heap, `--expose-gc`). Each side's full run
 * is measured the second time it runs after a GC: the first run after gc()
 * carries V8's recovery from the forced collection (bench/scenarios/encode.ts
 * `settled`); garbage made by the measured run is collected inside it and
 * counted. The registry loads are still measured right after a GC (their
 * figures compare builds, not a target). TRANSLATE_BASELINE=<dist dir>
 * names a second build of the modules (e.g. main's dist/) whose
 * pkg/translate runs interleaved with this one on the same snapshot, checked
 * to produce equal output; TRANSLATE_NODE_ARGS adds node flags to the
 * measuring process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { Encoder, fullDelta } from '../../pkg/push';
import { LocalRegistry, parseManifest } from '../../pkg/registry';
import type { ChangeSet, RawObject, RegistrySnapshot } from '../../pkg/registry';
import * as current from '../../pkg/translate';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import type { LocalDelta, LocalOutput, MeshContext } from '../../pkg/translate';
import { ipFor, writeMesh } from '../lib/mesh-gen';
import { floorBuild, floorInput, inputsRead } from '../lib/translate-floor';
import { designDiffering, entriesFromEncoded } from '../lib/encoded-entries';
import { encodePods, type EncodedOutput } from '../lib/translate-encoded';
import type { MeshShape } from '../lib/mesh-gen';
import type { Figure, ScenarioResult } from '../lib/types';

type Generate = typeof current.generateLocal;
type MsgEqual = typeof current.msgEqual;

interface Side {
  name: string;
  full: { us: number; cpuUs: number }[];
  change: number[];
  /** CPU µs of loading the registry (normalising every object), per round. */
  load: number[];
}

interface ChildResult {
  pods: number;
  /** Pods whose prototype message or entry (bench/lib/encoded-entries.ts designDiffering) is not the real one. */
  encodedBad: number;
  /** Kubernetes objects the registry is loaded from. */
  objects: number;
  resources: number;
  addresses: number;
  authorizations: number;
  sides: Side[];
  equal: boolean | undefined;
  loadAverage: number[];
}

/** Rounds of loading the registry per side (each normalises all ~51k objects). */
const LOAD_ROUNDS = 3;

const MESH: MeshContext = {
  clusterId: 'Kubernetes',
  network: '',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
};

type Objects = { obj: RawObject; origin: string }[];
type Registry = typeof LocalRegistry;

function readObjects(dir: string): Objects {
  const objs: Objects = [];
  for (const f of fs.readdirSync(dir).sort()) {
    const p = parseManifest(fs.readFileSync(path.join(dir, f), 'utf8'), f);
    if (p.errors.length > 0) throw new Error(`${f}: ${p.errors[0]!.reason}`);
    objs.push(...p.objects);
  }
  return objs;
}

/** A registry of `objs`: every object normalised (pods' IPs parsed to bytes) and stored. */
function loadRegistry(Reg: Registry, objs: Objects): LocalRegistry {
  const reg = new Reg({ logger: createSilentLogger(), clock: systemClock });
  reg.replaceSource('bench', objs);
  return reg;
}

/** Every address and authorization equal (same names, msgEqual). */
function sameOutput(a: LocalOutput, b: LocalOutput, eq: MsgEqual): boolean {
  if (a.addresses.size !== b.addresses.size || a.authorizations.size !== b.authorizations.size) return false;
  for (const [k, v] of a.addresses) if (!eq(v, b.addresses.get(k))) return false;
  for (const [k, v] of a.authorizations) if (!eq(v, b.authorizations.get(k))) return false;
  return true;
}

/** One churn pod (its own object, labels of an existing app) moved to a new IP: a Pod change as the daemon sees it. */
function podEvent(i: number, shape: MeshShape): RawObject {
  const s = i % shape.services;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'churn-0', namespace: `ns-${s % 10}`, labels: { app: `app-${s}` } },
    spec: {
      nodeName: `node-${i % 100}`,
      serviceAccountName: `app-${s}`,
      containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }],
    },
    status: { phase: 'Running', podIP: ipFor(0x200000 + i), conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

async function child(
  shape: MeshShape,
  rounds: number,
  changes: number,
  baseline: string | undefined,
): Promise<ChildResult> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-translate-${process.pid}-`));
  let objs: Objects;
  try {
    writeMesh(dir, shape);
    objs = readObjects(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const reg = loadRegistry(LocalRegistry, objs);
  const impls: { name: string; generate: Generate; eq: MsgEqual; registry: Registry }[] = [
    { name: 'current', generate: current.generateLocal, eq: current.msgEqual, registry: LocalRegistry },
  ];
  if (baseline) {
    // A second build of the same module tree; its snapshot types are the same shapes.
    const file = path.resolve(baseline, 'pkg/translate/index.js');
    const mod = (await import(file)) as { generateLocal: Generate; msgEqual: MsgEqual };
    const regMod = (await import(path.resolve(baseline, 'pkg/registry/index.js'))) as { LocalRegistry: Registry };
    impls.unshift({ name: 'baseline', generate: mod.generateLocal, eq: mod.msgEqual, registry: regMod.LocalRegistry });
  }
  const sides: Side[] = impls.map((i) => ({ name: i.name, full: [], change: [], load: [] }));
  // Normalising the same objects with each side's registry (what a translation reuses from it, e.g. pod IP bytes,
  // is paid here once per object change): interleaved rounds, CPU time, GC included.
  for (let r = 0; r < LOAD_ROUNDS; r++) {
    for (let j = 0; j < impls.length; j++) {
      const i = r % 2 === 0 ? j : impls.length - 1 - j;
      gc();
      const c0 = process.cpuUsage();
      loadRegistry(impls[i]!.registry, objs);
      const c = process.cpuUsage(c0);
      sides[i]!.load.push(c.user + c.system);
    }
  }
  // Each side translates a snapshot made by its own build's registry from the same objects: a build may recognise
  // its registry's classes (generate.ts takes the registry's FrozenMap by instanceof), and another build's would
  // send it down a slower path.
  const regs = impls.map((i) => (i.registry === LocalRegistry ? reg : loadRegistry(i.registry, objs)));
  const snapshots: RegistrySnapshot[] = regs.map((r) => r.snapshot());
  const snapshot: RegistrySnapshot = reg.snapshot();
  // One untimed run per side (each starts warm), and the floor's template: this build's output.
  impls.forEach((impl, i) => impl.generate({ snapshot: snapshots[i]!, mesh: MESH }));
  const floor = floorInput(current.generateLocal({ snapshot, mesh: MESH }).output);
  floorBuild(floor);
  const floorSide: Side = { name: 'floor', full: [], change: [], load: [] };
  const inputsSide: Side = { name: 'inputs', full: [], change: [], load: [] };
  // The pre-encoded design's prototype (pods only), and the entries made from its output.
  const encodedSide: Side = { name: 'encoded', full: [], change: [], load: [] };
  const pods = snapshot.pods.size;
  const encodeSide: Side = { name: 'encode', full: [], change: [], load: [] };
  const entriesSide: Side = { name: 'encoded_entries', full: [], change: [], load: [] };
  const wire = loadWire();
  const encoder = new Encoder(
    wire,
    new Map([
      [TYPE_ADDRESS, wire.Address],
      [TYPE_AUTHORIZATION, wire.Authorization],
    ]),
  );
  // Untimed: warms both, and checks the design's messages and entries against the translation's and the Encoder's.
  const translated = current.generateLocal({ snapshot, mesh: MESH }).output.addresses;
  const ref = encoder.encode(fullDelta(TYPE_ADDRESS, translated)).upserts ?? [];
  const encodedBad = designDiffering(snapshot, MESH, translated, ref);
  // entriesFromEncoded writes versions into its frames and packs them (in place): each of its runs takes a fresh
  // output of the prototype, two made before each of its rounds (untimed).
  let fresh: EncodedOutput[] = [];
  const cur = impls.length - 1; // this build's side
  const outs: LocalDelta[] = [];
  let kept: unknown;
  // Interleaved: every round runs each side, the floor and the inputs read once, the prototype, the encode of this
  // build's latest translation and the entries from the prototype's frames, alternating which goes first.
  const all = [...sides, floorSide, inputsSide, encodedSide, encodeSide, entriesSide];
  let sum = 0;
  const runSide = (i: number): void => {
    // Each side's output stays alive until its next run, as the daemon keeps the previous output.
    if (i === impls.length) kept = floorBuild(floor);
    else if (i === impls.length + 1) sum += inputsRead(snapshot);
    else if (i === impls.length + 2) kept = encodePods(snapshot, MESH);
    else if (i === impls.length + 3) {
      const o = outs[cur]!.output; // this build's side runs before this one in the first round
      kept = [
        encoder.encode(fullDelta(TYPE_ADDRESS, o.addresses)),
        encoder.encode(fullDelta(TYPE_AUTHORIZATION, o.authorizations)),
      ];
    } else if (i === impls.length + 4) kept = entriesFromEncoded(fresh.pop()!);
    else outs[i] = impls[i]!.generate({ snapshot: snapshots[i]!, mesh: MESH });
  };
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < all.length; j++) {
      const i = r % 2 === 0 ? j : all.length - 1 - j;
      if (i === impls.length + 4) fresh = [encodePods(snapshot, MESH), encodePods(snapshot, MESH)];
      gc();
      runSide(i);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      runSide(i);
      const us = (performance.now() - t0) * 1000;
      const c = process.cpuUsage(c0);
      all[i]!.full.push({ us, cpuUs: c.user + c.system });
    }
  }
  if (kept === undefined || sum === 0) throw new Error('no floor or inputs round');
  kept = undefined;
  const first = outs[0]!.output;
  const equal = impls.length > 1 ? sameOutput(outs[0]!.output, outs[1]!.output, current.msgEqual) : undefined;
  // One pod changed at a time, each side from its own previous output, in its own registry (sides of one build share
  // one, which gets each event once).
  const pending = new Map<LocalRegistry, ChangeSet>();
  const distinct = [...new Set(regs)];
  for (const r of distinct) r.onChange((c) => pending.set(r, c));
  const prev = outs.map((d) => d.output);
  for (let n = 0; n < changes; n++) {
    pending.clear();
    for (const r of distinct) {
      r.applyEvents('churn', [{ type: 'upsert', obj: podEvent(n, shape) }]);
      if (!pending.has(r)) throw new Error('pod change produced no ChangeSet');
    }
    for (let j = 0; j < impls.length; j++) {
      const i = n % 2 === 0 ? j : impls.length - 1 - j;
      const r = regs[i]!;
      const snap = r.snapshot();
      const t0 = performance.now();
      const d = impls[i]!.generate({
        snapshot: snap,
        mesh: MESH,
        previous: prev[i]!,
        changes: pending.get(r)!,
      });
      sides[i]!.change.push((performance.now() - t0) * 1000);
      prev[i] = d.output;
    }
  }
  return {
    objects: objs.length,
    resources: first.addresses.size + first.authorizations.size,
    addresses: first.addresses.size,
    authorizations: first.authorizations.size,
    sides: all,
    pods,
    encodedBad,
    equal,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const median = (l: number[]): number => {
  const s = [...l].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (l: number[], p: number): number =>
  [...l].sort((a, b) => a - b)[Math.min(l.length - 1, Math.floor(p * l.length))]!;

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const shape: MeshShape = { workloads: 50_000, services: 1_000, policies: 100 };
  const rounds = Number(process.env['TRANSLATE_ROUNDS'] ?? (o.mode === 'full' ? 9 : 5));
  const changes = o.mode === 'full' ? 1000 : 300;
  const baseline = process.env['TRANSLATE_BASELINE'];
  const extra = (process.env['TRANSLATE_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean);
  const loadBefore = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--max-old-space-size=3072',
      ...extra,
      __filename,
      'child',
      JSON.stringify({ shape, rounds, changes, baseline }),
    ],
    { maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] },
  ).toString();
  const r = JSON.parse(out) as ChildResult;
  const figures: Figure[] = [];
  const notes: string[] = [`load average before ${loadBefore.join(' ')}, after ${r.loadAverage.join(' ')}`];
  for (const s of r.sides) {
    const tag = s.name === 'current' ? '' : `${s.name}_`;
    const perRes = s.full.map((f) => f.us / r.resources);
    const cpuPerRes = s.full.map((f) => f.cpuUs / r.resources);
    const target = s.name === 'current' ? { target: { op: '<=' as const, value: 1.5 } } : {};
    figures.push({ name: `${tag}full_us_per_resource_min`, value: Math.min(...perRes), unit: 'µs', ...target });
    figures.push({ name: `${tag}full_us_per_resource_median`, value: median(perRes), unit: 'µs' });
    figures.push({ name: `${tag}full_cpu_us_per_resource_min`, value: Math.min(...cpuPerRes), unit: 'µs' });
    figures.push({ name: `${tag}full_cpu_us_per_resource_median`, value: median(cpuPerRes), unit: 'µs' });
    if (s.load.length > 0) {
      const load = s.load.map((us) => us / r.objects);
      figures.push({ name: `${tag}registry_load_cpu_us_per_object_min`, value: Math.min(...load), unit: 'µs' });
      figures.push({ name: `${tag}registry_load_cpu_us_per_object_median`, value: median(load), unit: 'µs' });
    }
    if (s.change.length > 0) {
      figures.push({ name: `${tag}one_change_us_median`, value: median(s.change), unit: 'µs' });
      figures.push({ name: `${tag}one_change_us_p99`, value: pct(s.change, 0.99), unit: 'µs' });
    }
    notes.push(`${s.name}: full rounds (ms) ${s.full.map((f) => (f.us / 1000).toFixed(1)).join(', ')}`);
  }
  // Translation over the floor, per round (both ran in the same round, next to each other).
  const cur = r.sides.find((s) => s.name === 'current')!;
  const flo = r.sides.find((s) => s.name === 'floor')!;
  const ratios = cur.full.map((f, i) => f.us / flo.full[i]!.us);
  figures.push({ name: 'full_vs_floor_median', value: median(ratios), unit: 'x' });
  figures.push({ name: 'full_vs_floor_min', value: Math.min(...ratios), unit: 'x' });
  // Both floors together (same round): what a translation cannot go below without a different output or input form.
  const inp = r.sides.find((s) => s.name === 'inputs')!;
  const both = flo.full.map((f, i) => (f.us + inp.full[i]!.us) / r.resources);
  figures.push({ name: 'floor_plus_inputs_us_per_resource_median', value: median(both), unit: 'µs' });
  const overBoth = cur.full.map((f, i) => f.us / r.resources / both[i]!);
  figures.push({ name: 'full_vs_floor_plus_inputs_median', value: median(overBoth), unit: 'x' });
  // The pre-encoded design covers pods only: per pod, next to translate's per resource (same rounds). Its translation
  // (the prototype) is read against target 3, wall as translate's; what it leaves the encoder against target 1.
  const minMed = (name: string, xs: number[]): void => {
    figures.push({ name: `${name}_min`, value: Math.min(...xs), unit: 'µs' });
    figures.push({ name: `${name}_median`, value: median(xs), unit: 'µs' });
  };
  const enc = r.sides.find((s) => s.name === 'encoded')!;
  minMed(
    'encoded_prototype_us_per_pod',
    enc.full.map((f) => f.us / r.pods),
  );
  const encPerPod = enc.full.map((f) => f.cpuUs / r.pods);
  minMed('encoded_prototype_cpu_us_per_pod', encPerPod);
  const ent = r.sides.find((s) => s.name === 'encoded_entries')!.full.map((f) => f.cpuUs / r.pods);
  minMed('encoded_entries_cpu_us_per_pod', ent);
  // A full push today (translate + encode, per resource) against the design's (prototype + entries, per pod).
  const encSide = r.sides.find((s) => s.name === 'encode')!;
  minMed(
    'translate_plus_encode_cpu_us_per_resource',
    cur.full.map((f, i) => (f.cpuUs + encSide.full[i]!.cpuUs) / r.resources),
  );
  minMed(
    'encoded_push_cpu_us_per_pod',
    encPerPod.map((p, i) => p + ent[i]!),
  );
  figures.push({ name: 'encoded_pods_differing', value: r.encodedBad, unit: 'pods', target: { op: '<=', value: 0 } });
  if (r.equal !== undefined) {
    const [b, c] = [r.sides[0]!, r.sides[1]!];
    figures.push({
      name: 'full_speedup_vs_baseline_median',
      value: median(b.full.map((f) => f.us)) / median(c.full.map((f) => f.us)),
      unit: 'x',
    });
    figures.push({
      name: 'full_cpu_speedup_vs_baseline_median',
      value: median(b.full.map((f) => f.cpuUs)) / median(c.full.map((f) => f.cpuUs)),
      unit: 'x',
    });
    figures.push({
      name: 'one_change_speedup_vs_baseline_median',
      value: median(b.change) / median(c.change),
      unit: 'x',
    });
    notes.push(`baseline ${baseline}: outputs ${r.equal ? 'equal' : 'DIFFER'}`);
    if (!r.equal) {
      figures.push({ name: 'outputs_equal_baseline', value: 0, unit: 'bool', target: { op: '>=', value: 1 } });
    }
  }
  return {
    scenario: 'translate',
    params: {
      ...shape,
      rounds,
      changes,
      resources: r.resources,
      addresses: r.addresses,
      authorizations: r.authorizations,
      baseline: baseline ?? null,
      nodeArgs: extra,
    },
    figures,
    notes,
  };
}

if (require.main === module && process.argv[2] === 'child') {
  const a = JSON.parse(process.argv[3]!) as { shape: MeshShape; rounds: number; changes: number; baseline?: string };
  void child(a.shape, a.rounds, a.changes, a.baseline).then((res) => process.stdout.write(JSON.stringify(res)));
}
