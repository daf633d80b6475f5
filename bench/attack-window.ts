/**
 * What the authenticated HTTP/2 window (xds.authenticatedWindowBytes) does
 * to one ztunnel's reconnect under the attacks that slowed it (budget
 * pinning, NACK flood): the attack scenario (bench/scenarios/attack.ts) run
 * `runs` times per setting, alternating 65,535 (never raised: HTTP/2's
 * default, as before the option) and the default (1 MiB), so background
 * load hits both settings alike. The daemon inherits the environment, so the
 * setting is AMBIENTD_XDS_AUTHENTICATED_WINDOW_BYTES. Reconnects of every
 * A phase (no attack) and B phase (attacked) are pooled per setting: median
 * and p95 (nearest rank).
 *
 *   node dist/bench/attack-window.js [runs=2]   → bench/results/attack-window.json
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from './scenarios/attack';
import { machineInfo, percentile } from './lib/proc';
import { median } from './lib/ab-rounds';

const SETTINGS = ['65535', String(1024 * 1024)];
const ATTACKS = ['budget_pinning', 'nack_flood'];

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 2);
  const root = path.resolve(__dirname, '..', '..');
  const logDir = path.join(root, 'bench', 'results', 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  process.env.ATTACK_ONLY = ATTACKS.join(',');
  const pooled: Record<string, Record<string, { without: number[]; with: number[] }>> = {};
  const loads: { window: string; start: number[]; end: number[] }[] = [];
  for (let r = 0; r < runs; r++) {
    for (const w of SETTINGS) {
      process.env.AMBIENTD_XDS_AUTHENTICATED_WINDOW_BYTES = w;
      const start = os.loadavg();
      const res = await run({ mode: 'quick', logDir });
      loads.push({ window: w, start, end: os.loadavg() });
      for (const a of ['control', ...ATTACKS]) {
        const d = res.detail?.[a] as { reconnectsWithout: number[][]; reconnectsWith: number[][] };
        const p = ((pooled[w] ??= {})[a] ??= { without: [], with: [] });
        p.without.push(...d.reconnectsWithout.flat());
        p.with.push(...d.reconnectsWith.flat());
      }
      console.log(
        `run ${r + 1} window ${w} done; load ${os
          .loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}`,
      );
    }
  }
  const figures = Object.entries(pooled).flatMap(([w, byAttack]) =>
    Object.entries(byAttack).flatMap(([a, p]) => [
      { name: `window_${w}.${a}.reconnect_median_without`, value: median(p.without), unit: 'ms' },
      { name: `window_${w}.${a}.reconnect_p95_without`, value: percentile(p.without, 95), unit: 'ms' },
      { name: `window_${w}.${a}.reconnect_median_with`, value: median(p.with), unit: 'ms' },
      { name: `window_${w}.${a}.reconnect_p95_with`, value: percentile(p.with, 95), unit: 'ms' },
      { name: `window_${w}.${a}.reconnects_per_side`, value: p.with.length, unit: 'count' },
    ]),
  );
  for (const f of figures) console.log(`INFO ${f.name} ${f.value.toFixed(1)} ${f.unit}`);
  const out = path.join(root, 'bench', 'results', 'attack-window.json');
  const result = { scenario: 'attack-window', params: { runs, settings: SETTINGS, attacks: ATTACKS }, figures, loads };
  fs.writeFileSync(out, JSON.stringify({ ...result, machine: machineInfo() }, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
