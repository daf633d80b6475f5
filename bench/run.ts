/**
 * `make bench` / `make bench-full` / `make bench SCENARIO=<name>`: runs
 * scenarios, writes bench/results/<scenario>.json (machine, parameters, every
 * figure with unit and target), and prints one PASS/MISS line per figure.
 * `--result <name>` (with --scenario) writes bench/results/<name>.json instead: a
 * variant run by knobs (e.g. xds at 1,000 streams pinned) keeps its own record.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machineInfo } from './lib/proc';
import type { ScenarioResult, ScenarioResultWithSeries, Series } from './lib/types';
import { renderCharts } from './lib/chart';

const SCENARIOS = [
  'xds',
  'ca',
  'mesh',
  'churn',
  'slow-consumer',
  'attack',
  'gateways',
  'parse',
  'encode',
  'translate',
  'ingest',
] as const;
/** Opt-in scenarios: run only when named (SCENARIO=<name>); a plain run says why each is left out. */
const OPT_IN: Record<string, string> = {
  istiod:
    "opt-in: builds istiod's Go benchmarks from istio/istio (tools/istio/ensure.sh, ISTIO_SRC); " +
    'run `make bench-full SCENARIO=istiod`',
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const get = (f: string): string | undefined => {
    const i = args.indexOf(f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const mode = (get('--mode') ?? 'quick') as 'quick' | 'full';
  const only = get('--scenario');
  const resultName = only ? get('--result') : undefined;
  if (resultName !== undefined && !/^[\w.-]+$/.test(resultName)) {
    console.log(`--result takes a file name (letters, digits, . _ -), not "${resultName}"`);
    return 1;
  }
  const list = only ? [only] : [...SCENARIOS];
  if (!only) for (const [name, why] of Object.entries(OPT_IN)) console.log(`# scenario ${name} skipped: ${why}`);
  const root = path.resolve(__dirname, '..', '..');
  const resultsDir = path.join(root, 'bench', 'results');
  const logDir = path.join(resultsDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  let misses = 0;
  const series: Series[] = [];
  for (const name of list) {
    const file = path.join(__dirname, 'scenarios', `${name}.js`);
    if (!fs.existsSync(file)) {
      console.log(`MISS ${name} scenario_missing 0 - (no bench/scenarios/${name}.ts)`);
      misses++;
      continue;
    }
    const mod = (await import(file)) as {
      run: (o: { mode: 'quick' | 'full'; logDir: string }) => Promise<ScenarioResult>;
    };
    console.log(`# scenario ${name} (${mode})`);
    const started = new Date().toISOString();
    let result: ScenarioResult;
    try {
      result = await mod.run({ mode, logDir });
    } catch (e) {
      console.log(`MISS ${name} scenario_failed 0 - (${(e as Error).message})`);
      misses++;
      continue;
    }
    for (const f of result.figures) {
      const v = Number.isFinite(f.value) ? Number(f.value.toFixed(3)) : f.value;
      if (!f.target) {
        console.log(`INFO ${name}.${f.name} ${v} ${f.unit}`);
        continue;
      }
      const ok = f.target.op === '<=' ? f.value <= f.target.value : f.value >= f.target.value;
      if (!ok) misses++;
      console.log(`${ok ? 'PASS' : 'MISS'} ${name}.${f.name} ${v} ${f.unit} (target ${f.target.op} ${f.target.value})`);
    }
    for (const n of result.notes ?? []) console.log(`# ${n}`);
    const withSeries = result as ScenarioResultWithSeries;
    // Series are kept per scenario so a single-scenario run redraws the chart with the others' latest data.
    const seriesDir = path.join(resultsDir, 'chart-data');
    fs.mkdirSync(seriesDir, { recursive: true });
    fs.writeFileSync(
      path.join(seriesDir, `${resultName ?? name}.series.json`),
      JSON.stringify(withSeries.series ?? []),
    );
    // Raw samples go to the chart only; the JSON keeps the figures.
    const { series: _omit, ...plain } = withSeries;
    void _omit;
    fs.writeFileSync(
      path.join(resultsDir, `${resultName ?? name}.json`),
      JSON.stringify({ ...plain, mode, started, finished: new Date().toISOString(), machine: machineInfo() }, null, 2) +
        '\n',
    );
  }
  const seriesDir = path.join(resultsDir, 'chart-data');
  if (fs.existsSync(seriesDir)) {
    for (const f of fs
      .readdirSync(seriesDir)
      .filter((x) => x.endsWith('.series.json'))
      .sort()) {
      try {
        series.push(...(JSON.parse(fs.readFileSync(path.join(seriesDir, f), 'utf8')) as Series[]));
      } catch {
        /* a corrupt series file only costs its curve */
      }
    }
  }
  const png = renderCharts(series, resultsDir);
  if (png) console.log(`# chart: ${path.relative(root, png)}`);
  console.log(`bench: ${misses} figure(s) missed their target`);
  return 0;
}

main().then(
  (c) => process.exit(c),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
