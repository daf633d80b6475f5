/**
 * What one file edit costs the registry, back to back and spaced out (docs/design/push-budget.md, "Edits applied
 * at the push"): parse one churn pod's manifest and apply it to a registry of the quick mesh (10k pods), in one
 * process, wall µs per change. Between changes the process spins (no sleep), so only the time that passes differs;
 * then the same changes in groups of 4 and 8 after the same gap each, as the pusher's drain applies a held batch.
 * The `apply_*` cases leave the parse out (objects parsed beforehand): the share of a Kubernetes watch event, whose
 * JSON is parsed as it arrives.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { LocalRegistry, parseManifest } from '../../pkg/registry';
import { writeMesh } from '../lib/mesh-gen';
import type { Figure, ScenarioResult } from '../lib/types';

const SLOTS = 100;

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-ingest-'));
  try {
    const { churnPod } = writeMesh(dir, { workloads: 10_000, services: 200, policies: 20, churnPods: SLOTS });
    const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
    for (const f of fs.readdirSync(dir)) {
      registry.replaceSource(`file:${f}`, parseManifest(fs.readFileSync(path.join(dir, f), 'utf8'), f).objects);
    }
    let gen = 1;
    const change = (): void => {
      const c = churnPod(gen % SLOTS, gen);
      gen++;
      registry.replaceSource(`file:${c.file}`, parseManifest(c.yaml, c.file).objects);
    };
    // Parsed beforehand: a cycle of generations long enough that each apply is a real change.
    const parsed = Array.from({ length: 4 * SLOTS }, (_, i) => {
      const c = churnPod(i % SLOTS, 1_000_000 + i);
      return { id: `file:${c.file}`, objects: parseManifest(c.yaml, c.file).objects };
    });
    let next = 0;
    const apply = (): void => {
      const p = parsed[next++ % parsed.length]!;
      registry.replaceSource(p.id, p.objects);
    };
    const spin = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    /** Median wall µs per change over `groups` groups of `size` changes, each after `gapMs` × size of spinning. */
    const measure = (groups: number, size: number, gapMs: number, one: () => void): number => {
      const per: number[] = [];
      for (let g = 0; g < groups; g++) {
        spin(gapMs * size);
        const t0 = performance.now();
        for (let k = 0; k < size; k++) one();
        per.push(((performance.now() - t0) * 1000) / size);
      }
      return median(per);
    };
    for (let i = 0; i < 3000; i++) {
      change(); // warm-up: every path optimised
      apply();
    }
    const rounds = o.mode === 'full' ? 5 : 3;
    const cases: [string, number, number, number][] = [
      ['back_to_back', 1000, 1, 0],
      ['gap_1ms', 500, 1, 1],
      ['gap_10ms', 200, 1, 10],
      ['batch4_after_gap', 50, 4, 10],
      ['batch8_after_gap', 25, 8, 10],
      ['apply_back_to_back', 1000, 1, 0],
      ['apply_gap_10ms', 200, 1, 10],
      ['apply_batch4_after_gap', 50, 4, 10],
    ];
    const byCase = new Map<string, number[]>(cases.map(([name]) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, groups, size, gap] of cases) {
        byCase.get(name)!.push(measure(groups, size, gap, name.startsWith('apply_') ? apply : change));
      }
    }
    const figures: Figure[] = [];
    const med = new Map<string, number>();
    for (const [name, values] of byCase) {
      med.set(name, median(values));
      figures.push({ name: `change_us_${name}`, value: median(values), unit: 'µs' });
      figures.push({ name: `change_us_${name}_min`, value: Math.min(...values), unit: 'µs' });
    }
    figures.push({
      name: 'gap_10ms_vs_back_to_back',
      value: med.get('gap_10ms')! / med.get('back_to_back')!,
      unit: 'x',
    });
    return {
      scenario: 'ingest',
      params: { mode: o.mode, workloads: 10_000, rounds, cases },
      figures,
      notes: [
        'one change = parse one churn pod manifest + LocalRegistry.replaceSource into 10k pods; wall µs, median',
        'gap = the process spins that long before each change (or group): only elapsed time differs',
        `rounds (µs): ${[...byCase].map(([k, v]) => `${k} ${v.map((x) => x.toFixed(1)).join('/')}`).join('; ')}`,
      ],
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
