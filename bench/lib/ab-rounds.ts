import type { Figure } from './types';
import { percentile } from './proc';

/** One phase of an A/B comparison: latency samples (ms) of one kind, e.g. every ztunnel's receipt of a change. */
export type Samples = readonly number[];

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The percentile a pooled statistic uses: p99 when there are at least 100
 * samples a side (p99 of fewer is just the maximum), else p95 (nearest rank,
 * bench/lib/proc.ts percentile).
 */
export function pooledPercentile(a: readonly Samples[], b: readonly Samples[]): 99 | 95 {
  const n = Math.min(a.flat().length, b.flat().length);
  return n >= 100 ? 99 : 95;
}

/**
 * Figures of one statistic over interleaved rounds: the pooled percentile of
 * every A sample against every B sample (`<name>_p<q>_without`, `_with`,
 * `_ratio` — the ratio carries the target), the per-round ratios' min and
 * median (INFO), and the sample counts. Pooling over rounds makes the figure
 * a statistic of many phases rather than of the slowest moment of one.
 */
export function abFigures(
  name: string,
  a: readonly Samples[],
  b: readonly Samples[],
  target: Figure['target'],
): { figures: Figure[]; perRound: number[] } {
  const q = pooledPercentile(a, b);
  const pa = percentile(a.flat(), q);
  const pb = percentile(b.flat(), q);
  const perRound = a.map((ra, i) => {
    const qa = percentile(ra, q);
    return qa > 0 ? percentile(b[i] ?? [], q) / qa : NaN;
  });
  const figures: Figure[] = [
    { name: `${name}_p${q}_without`, value: pa, unit: 'ms' },
    { name: `${name}_p${q}_with`, value: pb, unit: 'ms' },
    { name: `${name}_p${q}_ratio`, value: pa > 0 ? pb / pa : 0, unit: 'x', target },
    { name: `${name}_round_ratio_min`, value: Math.min(...perRound), unit: 'x' },
    { name: `${name}_round_ratio_median`, value: median(perRound), unit: 'x' },
    { name: `${name}_samples_per_side`, value: Math.min(a.flat().length, b.flat().length), unit: 'count' },
  ];
  return { figures, perRound };
}
