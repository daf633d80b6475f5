/**
 * prom-client's Registry.registerMetric is typed for its own metric classes, but the registry reads a metric only
 * through `name`, `help`, `type`, `aggregator`, `get()` (exposition, JSON, cluster aggregation) and `reset()`
 * (node_modules/prom-client/lib/registry.js). This overload states that contract, so a metric written for speed
 * (FastHistogram) registers with its shape checked by the compiler instead of cast.
 */

/** The part of a metric prom-client's Registry reads. */
export interface RegistrableMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly aggregator: 'omit' | 'sum' | 'first' | 'min' | 'max' | 'average';
  get(): RegistrableMetricValues | Promise<RegistrableMetricValues>;
  reset(): void;
}

export interface RegistrableMetricValues {
  name: string;
  help: string;
  type: RegistrableMetric['type'];
  aggregator: RegistrableMetric['aggregator'];
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

declare module 'prom-client' {
  // Merges into prom-client's `class Registry` (same type parameters, as declaration merging requires).
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the name must be prom-client's for the merge
  interface Registry<BoundRegistryContentType extends RegistryContentType = PrometheusContentType> {
    registerMetric(metric: RegistrableMetric): void;
  }
}
