import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SinkHealth } from "./sinks/postgres-mirror";
import type { IndexSummary } from "./status/summary";

/** how often (ms) the event-loop lag sampler ticks */
const LAG_SAMPLE_MS = 10;

/** Lookup outcomes as /metrics labels them, from the HTTP status a lookup route answered. */
export function lookupResult(status: number): string {
  switch (status) {
    case 200:
      return "hit";
    case 404:
      return "miss";
    case 409:
      return "conflict";
    case 403:
      return "denied";
    case 400:
      return "bad_request";
    case 503:
      return "not_ready";
    default:
      return "error";
  }
}

/**
 * podindex's Prometheus metrics, in a registry of its own (Pepr's controller keeps its own
 * metrics on its own port). `sample` callbacks are read at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  /** lookups answered since the last scrape, by route and result: plain numbers on the request path */
  readonly #answered = new Map<string, Map<string, number>>();
  /** every lookup's duration, by route: a prom-client observe() costs more than a lookup */
  readonly #durations = new Map<string, Tally>();
  readonly lookups = new Counter({
    name: "podindex_lookups_total",
    help: "Lookups answered, by route and result (hit, miss, conflict, denied, bad_request, not_ready: 503, not synced yet or Stale)",
    labelNames: ["route", "result"] as const,
    registers: [this.registry],
    collect: () => this.#flushAnswered(),
  });
  readonly watchEvents = new Counter({
    name: "podindex_watch_events_total",
    help: "Watch events applied, by kind and type",
    labelNames: ["kind", "type"] as const,
    registers: [this.registry],
  });
  readonly watchErrors = new Counter({
    name: "podindex_watch_errors_total",
    help: "List or watch failures (each is followed by a relist), by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly watchSkipped = new Counter({
    name: "podindex_watch_skipped_total",
    help: "Objects a feed delivered that could not be applied (skipped, the feed carried on), by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly relists = new Counter({
    name: "podindex_relists_total",
    help: "Full re-reads of a kind (start-up, restarts, resyncs), by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: "podindex_status_writes_total",
    help: "PodIndex status writes, by PodIndex",
    labelNames: ["podindex"] as const,
    registers: [this.registry],
  });
  readonly forwardAuthDecisions = new Counter({
    name: "podindex_forward_auth_decisions_total",
    help: "Forward-auth decisions, by PodIndex, result (allow, deny) and reason",
    labelNames: ["podindex", "result", "reason"] as const,
    registers: [this.registry],
  });
  readonly sinkWrites = new Counter({
    name: "podindex_sink_writes_total",
    help: "PostgreSQL mirror write transactions, by PodIndex and result (ok, error)",
    labelNames: ["podindex", "result"] as const,
    registers: [this.registry],
  });
  readonly #lastEvent = new Map<string, number>();
  /** the event loop's delays since the last scrape (Node's sampler, every LAG_SAMPLE_MS while enabled) */
  readonly #loopDelay = monitorEventLoopDelay({ resolution: LAG_SAMPLE_MS });
  /** every lag sample since start, in LAG_BUCKETS (each scrape folds the sampler's window in) */
  readonly #lags = new Tally(LAG_BUCKETS);
  readonly #now: () => number;

  constructor(sample: {
    pods: () => number;
    summaries: () => Map<string, IndexSummary>;
    sinks: () => Map<string, SinkHealth>;
    /** ms since the apiserver last proved each kind's cache current (read at scrape time) */
    staleness?: () => Map<string, number>;
    /** PODINDEX_MAX_STALENESS in ms (Infinity: no bound) */
    maxStalenessMs?: () => number;
    /** whether this replica leads (runs the status writer, Events and mirrors) */
    leading?: () => boolean;
    now?: () => number;
  }) {
    const now = (this.#now = sample.now ?? Date.now);
    this.registry.registerMetric(
      tallyMetric(
        "podindex_lookup_duration_seconds",
        "Time to answer a lookup, by route",
        "route",
        this.#durations,
      ) as unknown as Histogram,
    );
    const lastEvent = this.#lastEvent;
    new Gauge({
      name: "podindex_leader",
      help: "1 while this replica holds the leader Lease (it writes PodIndex status and Events and runs the PostgreSQL mirrors), else 0",
      registers: [this.registry],
      collect() {
        this.set(sample.leading?.() ? 1 : 0);
      },
    });
    new Gauge({
      name: "podindex_seconds_since_last_event",
      help: "Seconds since the last watch event of a kind",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      collect() {
        for (const [kind, at] of lastEvent) this.set({ kind }, (now() - at) / 1000);
      },
    });
    new Gauge({
      name: "podindex_staleness_seconds",
      help: "Seconds since the apiserver last proved a kind's cache current (an event, a bookmark or a completed list), computed at scrape time",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [kind, ms] of sample.staleness?.() ?? []) this.set({ kind }, ms / 1000);
      },
    });
    new Gauge({
      name: "podindex_max_staleness_seconds",
      help: "PODINDEX_MAX_STALENESS: past this staleness of pods or PodIndexes, lookups and forward-auth answer 503 Stale",
      registers: [this.registry],
      collect() {
        const ms = sample.maxStalenessMs?.();
        if (ms !== undefined && Number.isFinite(ms)) this.set(ms / 1000);
      },
    });
    new Gauge({
      name: "podindex_cached_pods",
      help: "Pods held in the cache (all namespaces)",
      registers: [this.registry],
      collect() {
        this.set(sample.pods());
      },
    });
    new Gauge({
      name: "podindex_indexed_pods",
      help: "Pods served, per PodIndex",
      labelNames: ["podindex"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [podindex, s] of sample.summaries()) this.set({ podindex }, s.pods);
      },
    });
    new Gauge({
      name: "podindex_services",
      help: "Services followed (with at least one followed EndpointSlice), per PodIndex with spec.services",
      labelNames: ["podindex"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [podindex, s] of sample.summaries())
          if (s.services !== undefined) this.set({ podindex }, s.services);
      },
    });
    new Gauge({
      name: "podindex_endpoints",
      help: "Endpoints of the followed Services, per PodIndex and readiness",
      labelNames: ["podindex", "ready"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [podindex, s] of sample.summaries()) {
          if (s.endpoints === undefined) continue;
          this.set({ podindex, ready: "true" }, s.readyEndpoints ?? 0);
          this.set({ podindex, ready: "false" }, s.endpoints - (s.readyEndpoints ?? 0));
        }
      },
    });
    const [loopDelay, lags] = [this.#loopDelay, this.#lags];
    new Gauge({
      name: "podindex_event_loop_lag_seconds",
      help: "How late the event loop ran (every lookup and forward-auth waits on it) since the last scrape: quantile 0.5, 0.99 and 1 (the maximum)",
      labelNames: ["quantile"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        if (loopDelay.count === 0) return;
        this.set({ quantile: "0.5" }, lagSeconds(loopDelay.percentile(50)));
        this.set({ quantile: "0.99" }, lagSeconds(loopDelay.percentile(99)));
        this.set({ quantile: "1" }, lagSeconds(loopDelay.max));
        // the histogram below is rendered after this gauge, from the window folded in here
        foldLag(loopDelay, lags);
        loopDelay.reset();
      },
    });
    this.registry.registerMetric(
      tallyMetric(
        "podindex_event_loop_lag_histogram_seconds",
        "How late the event loop ran, every sample since start (the quantiles gauge counts only since the last scrape, whoever scraped): for histogram_quantile over any window",
        undefined,
        new Map([["", lags]]),
      ) as unknown as Histogram,
    );
    new Gauge({
      name: "podindex_sink_ready",
      help: "1 when a PodIndex's PostgreSQL mirror is in sync, 0 when it is failing or connecting",
      labelNames: ["podindex"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [podindex, h] of sample.sinks()) this.set({ podindex }, h.ready ? 1 : 0);
      },
    });
  }

  /** A lookup route answered (counted by result) after `seconds`. Cheap: read out at scrape time. */
  lookupAnswered(route: string, result: string, seconds: number): void {
    let byResult = this.#answered.get(route);
    if (!byResult) this.#answered.set(route, (byResult = new Map()));
    byResult.set(result, (byResult.get(result) ?? 0) + 1);
    let tally = this.#durations.get(route);
    if (!tally) this.#durations.set(route, (tally = new Tally(LOOKUP_BUCKETS)));
    tally.observe(seconds);
  }

  #flushAnswered(): void {
    for (const [route, byResult] of this.#answered)
      for (const [result, n] of byResult) this.lookups.inc({ route, result }, n);
    this.#answered.clear();
  }

  /** Sample the event loop's lag (while the server listens: constructing Metrics starts nothing). */
  monitorEventLoop(on: boolean): void {
    if (on) this.#loopDelay.enable();
    else this.#loopDelay.disable();
  }

  watchEvent(kind: string, type: string): void {
    this.watchEvents.inc({ kind, type });
    this.#lastEvent.set(kind, this.#now());
  }
}

/** podindex_lookup_duration_seconds' upper bounds */
export const LOOKUP_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/** podindex_event_loop_lag_histogram_seconds' upper bounds */
export const LAG_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Node records the time between the sampler's ticks (ns), its own interval included: the lag is what exceeds it (s). */
const lagSeconds = (ns: number) => Math.max(0, ns / 1e6 - LAG_SAMPLE_MS) / 1000;

/**
 * Adds the sampler's window to `tally`. Node keeps the window as a histogram, not as samples: the
 * samples at or under each bound are found from its percentiles (a binary search on the percentile
 * whose value is within the bound), and the sum from its mean.
 */
function foldLag(window: IntervalHistogram, tally: Tally): void {
  const n = window.count;
  let counted = 0;
  tally.bounds.forEach((bound, i) => {
    const limitNs = (bound * 1000 + LAG_SAMPLE_MS) * 1e6;
    let atOrUnder: number;
    if (window.max <= limitNs) atOrUnder = n;
    else if (window.min > limitNs) atOrUnder = 0;
    else {
      let [lo, hi] = [0, 100];
      for (let step = 0; step < 30; step++) {
        const mid = (lo + hi) / 2;
        if (window.percentile(mid) <= limitNs) lo = mid;
        else hi = mid;
      }
      atOrUnder = Math.round((lo / 100) * n);
    }
    tally.counts[i] += Math.max(0, atOrUnder - counted);
    counted = Math.max(counted, atOrUnder);
  });
  tally.counts[tally.bounds.length] += n - counted;
  tally.count += n;
  tally.sum += n * lagSeconds(window.mean);
}

/** A histogram's counts as plain numbers: how many observations fell at or under each bound, and their sum. */
export class Tally {
  /** per bound, then one past the last bound (+Inf); not cumulative */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram over Tallies (one per value of `label`; without a label, the one Tally),
 * as prom-client's registry reads a metric: `get()` gives the `_bucket` (cumulative, `le`), `_sum`
 * and `_count` series, exactly as prom-client's own Histogram renders them.
 */
export function tallyMetric(name: string, help: string, label: string | undefined, tallies: Map<string, Tally>) {
  return {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const [key, t] of tallies) {
        const by = label === undefined ? {} : { [label]: key };
        let cumulative = 0;
        t.bounds.forEach((le, i) => {
          cumulative += t.counts[i];
          values.push({ labels: { le, ...by }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { le: "+Inf", ...by }, value: t.count, metricName: `${name}_bucket` });
        values.push({ labels: by, value: t.sum, metricName: `${name}_sum` });
        values.push({ labels: by, value: t.count, metricName: `${name}_count` });
      }
      return { name, help, type: "histogram", aggregator: "sum", values };
    },
    reset() {
      tallies.clear();
    },
  };
}
