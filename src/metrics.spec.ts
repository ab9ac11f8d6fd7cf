import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { Histogram, Registry } from "prom-client";
import { testServer, type TestServer } from "../test/support/server";
import { LOOKUP_BUCKETS, Metrics } from "./metrics";

describe("Metrics", () => {
  let t: TestServer;
  afterEach(() => t.app.close());

  const lag = async () => {
    const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
    return Object.fromEntries(
      [...text.matchAll(/^podindex_event_loop_lag_seconds\{quantile="([\d.]+)"\} (\S+)$/gm)].map(m => [
        m[1],
        Number(m[2]),
      ]),
    );
  };

  it("exports how late the event loop ran since the last scrape", async () => {
    t = testServer({});
    await t.app.ready();
    await sleep(30); // the sampler runs
    await lag(); // starts a fresh interval
    await sleep(30);
    const blockedUntil = Date.now() + 150;
    while (Date.now() < blockedUntil); // a handler that holds the loop for 150 ms
    await sleep(30);
    const blocked = await lag();
    expect(Object.keys(blocked).sort()).toEqual(["0.5", "0.99", "1"]);
    expect(blocked["1"]).toBeGreaterThan(0.1);
    await sleep(30);
    expect((await lag())["1"]).toBeLessThan(blocked["1"]); // the next scrape covers only its own interval
  });

  it("counts every lag sample since start in a histogram, whoever scrapes and however often", async () => {
    t = testServer({});
    await t.app.ready();
    const histogram = async () => {
      const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
      const series = (suffix: string) =>
        [...text.matchAll(new RegExp(`^podindex_event_loop_lag_histogram_seconds_${suffix} (\\S+)$`, "gm"))].map(
          m => [m[1], Number(m[2])] as const,
        );
      const buckets = new Map(series('bucket\\{le="([^"]+)"\\}'));
      const [[, count]] = series("(count)");
      return { buckets, count };
    };
    const start = await histogram();
    const t0 = Date.now();
    await sleep(100);
    const blockedUntil = Date.now() + 150;
    while (Date.now() < blockedUntil); // a handler that holds the loop for 150 ms
    await sleep(100);
    await histogram(); // a scrape in between (another scraper, or curl): nothing is lost
    await sleep(100);
    const end = await histogram();
    const elapsedMs = Date.now() - t0;
    const samples = end.count - start.count;
    // one sample per 10 ms tick, the blocked 150 ms being one late tick
    expect(samples).toBeGreaterThan((elapsedMs - 150) / 10 / 2);
    expect(samples).toBeLessThanOrEqual(elapsedMs / 10 + 2);
    expect(end.buckets.get("+Inf")).toBe(end.count);
    const over = (le: string) => end.count - end.buckets.get(le)! - (start.count - start.buckets.get(le)!);
    expect(over("0.1")).toBeGreaterThanOrEqual(1); // the 140 ms late tick
    expect(over("0.25")).toBe(0);
    const counts = [...end.buckets.values()];
    expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative
  });

  it("reads an idle loop as (nearly) no lag, not as the sampler's own 10 ms interval", async () => {
    t = testServer({});
    await t.app.ready();
    await lag();
    await sleep(500); // an idle loop: only the sampler's ticks, about 50 of them
    const idle = await lag();
    // read as the time between ticks, the median would be 10 ms; the tail is the machine's (other test
    // files share its cores), so only the median tells the sampler's interval from lag
    expect(idle["0.5"]).toBeLessThan(0.003);
  });
});

describe("lookup metrics", () => {
  const metrics = () => new Metrics({ pods: () => 0, summaries: () => new Map(), sinks: () => new Map() });
  const series = (text: string, name: string) => text.split("\n").filter(l => l.startsWith(name));

  it("renders lookup durations exactly as a prom-client Histogram with the same observations", async () => {
    const m = metrics();
    const reference = new Histogram({
      name: "podindex_lookup_duration_seconds",
      help: "Time to answer a lookup, by route",
      labelNames: ["route"] as const,
      buckets: [...LOOKUP_BUCKETS],
      registers: [],
    });
    const samples: [string, number][] = [
      ["by-ip", 0.00004],
      ["by-ip", 0.00005], // on a bound: counted in it (le is "less or equal")
      ["by-ip", 0.0003],
      ["by-ip", 0.07], // past the last bound: +Inf only
      ["by-uid", 0.002],
    ];
    for (const [route, s] of samples) {
      m.lookupAnswered(route, "hit", s);
      reference.observe({ route }, s);
    }
    const ours = series(await m.registry.metrics(), "podindex_lookup_duration_seconds");
    expect(ours.length).toBe(2 * (LOOKUP_BUCKETS.length + 3));
    const registry = new Registry();
    registry.registerMetric(reference);
    expect(ours).toEqual(series(await registry.metrics(), "podindex_lookup_duration_seconds"));
  });

  it("counts answers by route and result, the totals growing across scrapes", async () => {
    const m = metrics();
    const count = async () =>
      Object.fromEntries(
        [
          ...(await m.registry.metrics()).matchAll(
            /^podindex_lookups_total\{route="([^"]+)",result="([^"]+)"\} (\d+)$/gm,
          ),
        ].map(x => [`${x[1]} ${x[2]}`, Number(x[3])]),
      );
    m.lookupAnswered("by-ip", "hit", 0.0001);
    m.lookupAnswered("by-ip", "hit", 0.0001);
    m.lookupAnswered("by-ip", "miss", 0.0001);
    expect(await count()).toEqual({ "by-ip hit": 2, "by-ip miss": 1 });
    m.lookupAnswered("by-ip", "hit", 0.0001);
    m.lookupAnswered("forward-auth", "denied", 0.0001);
    expect(await count()).toEqual({ "by-ip hit": 3, "by-ip miss": 1, "forward-auth denied": 1 });
    expect(await count()).toEqual({ "by-ip hit": 3, "by-ip miss": 1, "forward-auth denied": 1 });
  });
});
