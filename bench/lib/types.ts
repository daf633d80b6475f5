export interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: { op: '<=' | '>='; value: number };
}

export interface ScenarioResult {
  scenario: string;
  params: Record<string, unknown>;
  figures: Figure[];
  notes?: string[];
  /** Raw per-round values and load averages behind the figures (kept in the JSON). */
  detail?: Record<string, unknown>;
}

/** Raw data for the runner's charts (bench/results/*.png). */
export interface Series {
  /** e.g. "propagation" (a latency CDF) or "scale" (x = peers). */
  chart: 'latency-cdf' | 'scale-cpu' | 'scale-rss';
  label: string;
  /** For latency-cdf: latency samples in ms. For scale-*: [x, y] pairs. */
  values: number[] | [number, number][];
}

export interface ScenarioResultWithSeries extends ScenarioResult {
  series?: Series[];
}
