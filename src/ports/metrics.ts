/**
 * What services count and measure, by name and labels (a Prometheus adapter later exposes them;
 * the names follow its conventions: `_total` for counters, base units such as `_bytes` and
 * `_seconds`). The default adapter records nothing.
 */
export type MetricLabels = Readonly<Record<string, string>>;

export interface Metrics {
  /** Adds `value` (default 1) to a counter. */
  count(name: string, labels?: MetricLabels, value?: number): void;
  /** Records one observation of a distribution (a duration, a size). */
  observe(name: string, value: number, labels?: MetricLabels): void;
}

/** Records nothing. */
export const NO_METRICS: Metrics = {
  count(): void {
    // No adapter is configured.
  },
  observe(): void {
    // No adapter is configured.
  },
};
