import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BenchResults, ContenderResult } from "./report";

const WRITES = 3;

/** `npm run bench` at 200 pods, with short phases: it must run to the end and write every figure. */
function smokeRun(
  out: string,
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise(done => {
    execFile(
      process.execPath,
      ["--import", "tsx", resolve(__dirname, "main.ts")],
      {
        env: {
          ...process.env,
          BENCH_SIZES: "200",
          BENCH_SECONDS: "0.3",
          BENCH_WARMUP_SECONDS: "0.5",
          BENCH_LOAD_SECONDS: "1.5",
          BENCH_WRITES: String(WRITES),
          BENCH_OUT: out,
          ...extraEnv,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const positive = (n: number | undefined) => expect(n, "a figure").toBeGreaterThan(0);

function expectLookupFigures(c: ContenderResult) {
  positive(c.lookup?.sequential.p50Ms);
  positive(c.lookup?.sequential.p99Ms);
  expect(c.lookup?.sequential.failures).toBe(0);
  positive(c.lookup?.concurrent.perSecond);
  expect(c.lookup?.concurrent.clients).toBe(16);
  expect(c.lookup?.concurrent.failures).toBe(0);
  if (c.key === "constant") return;
  // loaded in turn with the constant route, in BENCH_ROUNDS rounds
  expect(c.lookup?.constant?.rounds).toBe(5);
  positive(c.lookup?.constant?.ratio);
  // each round's ratio, their median the one above
  const ratios = [...(c.lookup?.constant?.ratios ?? [])];
  expect(ratios).toHaveLength(5);
  ratios.forEach(positive);
  expect(ratios.sort((x, y) => x - y)[2]).toBe(c.lookup?.constant?.ratio);
  positive(c.lookup?.constant?.concurrent.perSecond);
  expect(c.lookup?.constant?.concurrent.failures).toBe(0);
}

function expectContenderFigures(c: ContenderResult, podindex: boolean) {
  expect(c.available, `${c.key}: ${c.reason}`).toBe(true);
  positive(c.startToReadySeconds);
  positive(c.memory?.rssBytes);
  positive(c.memory?.heapUsedBytes);
  positive(c.memory?.maxRssBytes);
  expect(c.memory!.rssPerPodBytes).toBeCloseTo(c.memory!.rssBytes / 200);
  expectLookupFigures(c);
  positive(c.underLoad?.updatesPerSecond);
  // paced at 200 a second through the 1.5 s of updates, behind schedule or not
  expect(c.underLoad?.lookup.perSecond).toBe(200);
  expect(c.underLoad?.lookup.requests).toBeGreaterThan(200 * 1.5 * 0.5);
  // the updates' 0.5 s of warm-up before it are not measured
  expect(c.underLoad?.lookup.requests).toBeLessThanOrEqual(200 * 1.5 * 1.1);
  expect(c.underLoad?.lookup.failures).toBe(0);
  // the contender, the cluster and the clients each worked, and together within what the machine did
  const cpu = c.underLoad!.cpuCores!;
  for (const x of [cpu.contender, cpu.cluster, cpu.client]) positive(x);
  expect(cpu.machineCores).toBe(availableParallelism());
  expect(cpu.contender + cpu.cluster + cpu.client).toBeLessThanOrEqual(cpu.machine * 1.1 + 0.05);
  expect(cpu.machine).toBeLessThanOrEqual(cpu.machineCores * 1.05);
  expect(cpu.stolen).toBeGreaterThanOrEqual(0);
  expect(cpu.machine + cpu.stolen).toBeLessThanOrEqual(cpu.machineCores * 1.05);
  // every write showed up in a lookup, within the bench's 5 s
  expect(c.writeToLookup).toMatchObject({ requests: WRITES, failures: 0 });
  positive(c.writeToLookup?.p99Ms);
  // each write also reached the bench's own watch on the simulator
  expect(c.writeToWatch).toMatchObject({ requests: WRITES, failures: 0 });
  positive(c.writeToWatch?.p99Ms);
  // the clients' own lag was sampled through the phase
  expect(c.underLoad?.clientLagMs?.max).toBeGreaterThanOrEqual(c.underLoad!.clientLagMs!.p99);
  expect(c.underLoad?.clientLagMs?.p99).toBeGreaterThanOrEqual(0);
  if (!podindex) return;
  positive(c.underLoad?.forwardAuth?.requests);
  expect(c.underLoad?.forwardAuth?.failures).toBe(0);
  positive(c.underLoad?.forwardAuth?.p99Ms);
  expect(Number.isFinite(c.underLoad?.eventLoopLagP99Ms)).toBe(true);
  expect(Number.isFinite(c.underLoad?.eventLoopLagWorstSecondP99Ms)).toBe(true);
  positive(c.underLoad?.metricsScrapeMs?.max);
  // the largest sample is at least the p99 of every sample (the phase's last window included)
  expect(c.underLoad!.eventLoopLagMaxMs).toBeGreaterThanOrEqual(c.underLoad!.eventLoopLagWorstSecondP99Ms!);
}

describe("npm run bench (a 200-pod smoke run)", () => {
  const out = mkdtempSync(join(tmpdir(), "podindex-bench-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("runs to the end, prints the targets and writes well-formed JSON with every figure, and a chart", async () => {
    const run = await smokeRun(out);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.stdout).toContain("targets (issue 12)");
    for (const figure of [
      "start to ready",
      "RSS per pod",
      "lookups/s",
      "forward-auth p99",
      "event-loop lag p99",
      "API write → lookup p99",
      "the simulator's watch event",
    ])
      expect(run.stdout).toContain(figure);

    const results = JSON.parse(readFileSync(join(out, "latest.json"), "utf8")) as BenchResults;
    expect(results.machine.node).toBe(process.version);
    positive(results.machine.nproc);
    positive(results.machine.memoryBytes);
    expect(results.machine.cpuModel).not.toBe("");
    expect(results.sizes.map(s => s.pods)).toEqual([200]);
    const [size] = results.sizes;
    expect(size.podBytes.mean).toBeGreaterThan(15_000);
    expect(size.cpuStealShare).toBeGreaterThanOrEqual(0);
    expect(size.cpuStealShare).toBeLessThan(1);
    positive(size.pagedList.seconds);
    expect(size.pagedList.pageSize).toBe(500);
    // where the run's time went: each contender's part, within the size's, within the run's
    for (const c of size.contenders) positive(c.benchSeconds);
    const parts = size.contenders.reduce((n, c) => n + c.benchSeconds!, size.seedSeconds + size.pagedList.seconds);
    expect(parts).toBeLessThanOrEqual(size.seconds!);
    expect(size.seconds).toBeLessThanOrEqual(results.totalSeconds);
    expect(run.stdout).toContain("its part of the bench (s)");
    expect(size.contenders.map(c => c.key)).toEqual(["feed", "pepr", "informer", "constant"]);
    const [feed, pepr, informer, constant] = size.contenders;
    expectContenderFigures(feed, true);
    expectContenderFigures(informer, false);
    expectLookupFigures(constant);
    // the constant route's answers a second are those of its rounds beside the first contender
    expect(constant.lookup?.concurrent).toEqual(feed.lookup?.constant?.concurrent);
    expect(run.stdout).toContain("÷ constant route, in the same rounds");
    // the Pepr-bindings source is measured when the module takes it up, and says why not otherwise
    if (pepr.available) expectContenderFigures(pepr, true);
    else expect(pepr.reason).toMatch(/\w/);
    // BENCH_PLACEMENT's default on 2 CPUs or more: the cluster on one CPU only
    if (availableParallelism() >= 2) {
      expect(results.placement.mode).toBe("pinned-cluster");
      expect(size.clusterCpus).toEqual([results.placement.clusterCpu]);
      expect(run.stdout).toContain(`the cluster on CPU ${results.placement.clusterCpu} alone`);
    }

    const svg = readFileSync(join(out, "chart.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("200 pods");
  }, 360_000);

  it("refuses a BENCH_PLACEMENT it does not know, before it starts anything", async () => {
    const run = await smokeRun(out, { BENCH_PLACEMENT: "pinned" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('BENCH_PLACEMENT must be pinned-cluster or shared, got "pinned"');
    expect(run.stdout).not.toContain("seeding");
  });
});
