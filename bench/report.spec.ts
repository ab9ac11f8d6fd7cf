import { describe, expect, it } from "vitest";
import type { Throughput } from "./http-load";
import { sizeTable, type ContenderResult, type SizeResult } from "./report";

const latency = { requests: 100, p50Ms: 0.2, p99Ms: 0.9, maxMs: 2, failures: 0 };
const throughput = (perSecond: number): Throughput =>
  perSecond > 0
    ? { ...latency, perSecond, clients: 16 }
    : { requests: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, failures: 0, perSecond: 0, clients: 16 };

/** a contender that answered `perSecond` lookups a second in rounds beside a constant route answering 40k */
const contender = (key: ContenderResult["key"], perSecond: number): ContenderResult => ({
  key,
  available: true,
  startToReadySeconds: 1,
  lookup: {
    sequential: latency,
    concurrent: throughput(perSecond),
    constant: { concurrent: throughput(40_000), ratio: perSecond / 40_000, rounds: 5, ratios: [] },
  },
});

const size = (contenders: ContenderResult[]): SizeResult => ({
  pods: 1000,
  namespaces: 10,
  slices: 100,
  podBytes: { min: 1, mean: 1, max: 1 },
  seedSeconds: 1,
  pagedList: { seconds: 1, bytes: 1, pageSize: 500 },
  contenders,
  loadAverage: { before: 0, after: 0 },
});

/** the cells of the table's row whose label starts with `label` */
const row = (table: string, label: string) =>
  table
    .split("\n")
    .find(l => l.startsWith(`| ${label}`))!
    .split("|")
    .slice(2, -1)
    .map(c => c.trim());

describe("sizeTable", () => {
  it("shows a contender that answered none of its rounds' lookups as 0, not as unmeasured", () => {
    const table = sizeTable(
      size([
        contender("feed", 36_000),
        contender("pepr", 0),
        contender("informer", 24_000),
        { key: "constant", available: true, lookup: { sequential: latency, concurrent: throughput(40_000) } },
      ]),
    );
    expect(row(table, "lookups/s")).toEqual(["36000", "0", "24000", "40000"]);
    expect(row(table, "  ÷ constant route")).toEqual(["0.90", "0.00", "0.60", "1.00"]);
    expect(row(table, "  ÷ informer")).toEqual(["1.50", "0.00", "1.00", "1.67"]);
  });

  it("shows what was not measured as –, and a contender that was not available as n/a", () => {
    const table = sizeTable(
      size([
        contender("feed", 36_000),
        { key: "pepr", available: false, reason: "not ready" },
        { key: "constant", available: true, lookup: { sequential: latency, concurrent: throughput(40_000) } },
      ]),
    );
    // no informer: nothing to divide by
    expect(row(table, "  ÷ informer")).toEqual(["–", "n/a", "–"]);
    expect(row(table, "  ÷ constant route")).toEqual(["0.90", "n/a", "1.00"]);
  });
});
