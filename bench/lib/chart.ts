import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Series } from './types';

/** gnuplot from Debian renders without a browser; installed on first use. */
function ensureGnuplot(): boolean {
  if (spawnSync('gnuplot', ['--version']).status === 0) return true;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  try {
    execFileSync(
      sudo[0] ?? 'apt-get',
      [...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', '--no-install-recommends', 'gnuplot-nox'],
      { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
    );
  } catch {
    try {
      execFileSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'update', '-qq'], { stdio: 'ignore' });
      execFileSync(
        sudo[0] ?? 'apt-get',
        [...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', '--no-install-recommends', 'gnuplot-nox'],
        { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      );
    } catch {
      return false;
    }
  }
  return spawnSync('gnuplot', ['--version']).status === 0;
}

/** Renders latency CDFs (log-x) and scale charts into one PNG; returns its path or undefined. */
export function renderCharts(series: Series[], outDir: string): string | undefined {
  const cdfs = series.filter((s) => s.chart === 'latency-cdf' && s.values.length > 0);
  const cpu = series.filter((s) => s.chart === 'scale-cpu');
  const rss = series.filter((s) => s.chart === 'scale-rss');
  if (cdfs.length === 0 && cpu.length === 0) return undefined;
  if (!ensureGnuplot()) return undefined;
  const dataDir = path.join(outDir, 'chart-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const plots: string[] = [];
  const panels = (cdfs.length ? 1 : 0) + (cpu.length ? 1 : 0) + (rss.length ? 1 : 0);
  const script: string[] = [
    `set terminal pngcairo size ${560 * panels},460 font "sans,10"`.replace('pngcairo', 'png'),
    `set output '${path.join(outDir, 'bench.png')}'`,
    `set multiplot layout 1,${panels} title "ambientd make bench (${new Date().toISOString().slice(0, 10)})"`,
    'set grid',
    'set key bottom right',
  ];
  if (cdfs.length) {
    cdfs.forEach((s, i) => {
      const v = (s.values as number[]).filter((x) => Number.isFinite(x) && x > 0).sort((a, b) => a - b);
      const f = path.join(dataDir, `cdf-${i}.dat`);
      fs.writeFileSync(f, v.map((x, j) => `${x} ${(j + 1) / v.length}`).join('\n') + '\n');
      plots.push(`'${f}' using 1:2 with lines lw 2 title '${s.label.replace(/'/g, '')}'`);
    });
    script.push(
      'set title "propagation latency CDF"',
      'set logscale x',
      'set xlabel "ms (log)"',
      'set ylabel "fraction"',
      'set yrange [0:1]',
      `plot ${plots.join(', ')}`,
      'unset logscale x',
      'set yrange [*:*]',
    );
  }
  for (const [group, title, ylabel] of [
    [cpu, 'daemon CPU vs peers', '% of one core'],
    [rss, 'daemon RSS vs peers', 'MiB'],
  ] as const) {
    if (!group.length) continue;
    const p = group.map((s, i) => {
      const f = path.join(dataDir, `${title.replace(/\W+/g, '-')}-${i}.dat`);
      fs.writeFileSync(f, (s.values as [number, number][]).map(([x, y]) => `${x} ${y}`).join('\n') + '\n');
      return `'${f}' using 1:2 with linespoints lw 2 pt 7 title '${s.label.replace(/'/g, '')}'`;
    });
    script.push(
      `set title "${title}"`,
      'set xlabel "peered clusters"',
      `set ylabel "${ylabel}"`,
      'set xrange [0:*]',
      'set yrange [0:*]',
      `plot ${p.join(', ')}`,
    );
  }
  script.push('unset multiplot');
  const sf = path.join(dataDir, 'bench.gp');
  fs.writeFileSync(sf, script.join('\n') + '\n');
  const r = spawnSync('gnuplot', [sf], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`# chart: gnuplot failed: ${r.stderr}`);
    return undefined;
  }
  return path.join(outDir, 'bench.png');
}
