import { Metrics } from "../../src/metrics";

/** Metrics over nothing: for a unit that counts into them (its own gauges read empty sources). */
export function emptyMetrics(): Metrics {
  return new Metrics({
    pods: () => 0,
    summaries: () => new Map(),
    sinks: () => new Map(),
    staleness: () => new Map(),
    maxStalenessMs: () => Infinity,
  });
}
