/**
 * npm run bench: podindex against a hand-written client-node informer and a constant Fastify
 * route, at each size in BENCH_SIZES (default 1000,10000,100000 realistic pods), through the
 * simulated kube-apiserver. Every contender is its own process, started one after another against
 * the same cluster. Prints the figures and the targets of issue 12, and writes them as JSON
 * (BENCH_OUT, default bench/results: latest.json) with an SVG chart (chart.svg). A program, not a
 * test: it asserts nothing (bench/bench.spec.ts checks that a small run completes).
 *
 * Each contender runs as it is deployed: its code bundled by esbuild (as `pepr build` bundles the
 * module), its packages loaded from node_modules, plain `node` with no TypeScript loader in the
 * process (tsx's loader alone costs about 60 MiB of RSS).
 *
 * Answers a second are measured in rounds: each contender and the constant route, both processes
 * up, are loaded in turn, the other stopped meanwhile (BENCH_ROUNDS rounds, default 5), and each
 * "÷ constant route" is the median of the rounds' ratios. On a shared machine the same server's
 * speed differs by up to 2× minutes apart, so a ratio of two figures measured minutes apart
 * measured the machine.
 *
 * Tuning (for a quick run): BENCH_SECONDS (each lookup measurement, default 3; the rounds share
 * it), BENCH_WARMUP_SECONDS (unmeasured load before each measured phase, default 2),
 * BENCH_LOAD_SECONDS (the 1,000 updates/s phase, default 8), BENCH_WRITES (API write → lookup
 * samples, default 40), BENCH_LOAD_RATE (lookups a second, and as many forward-auth checks, while
 * the updates flow; default 200), BENCH_CONTENDERS (default feed,pepr,informer; the constant route
 * always runs), BENCH_PLACEMENT (pinned-cluster or shared, below).
 */
import { build } from "esbuild";
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import type { ChildMemory, ChildMessage } from "./child";
import {
  concurrent,
  histogramQuantile,
  paced,
  paired,
  quantile,
  send,
  sequential,
  summarise,
  type Buckets,
  type Latency,
  type Load,
} from "./http-load";
import { Skips } from "./skips";
import { chartSvg, printResults, type BenchResults, type ContenderResult, type SizeResult } from "./report";
import { NODE_FLAGS } from "../scripts/manifests";
import { benchPod, namespacesFor, type SimReady, type SimRequest } from "./fleet";

const numberEnv = (name: string, fallback: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!(n > 0)) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
};
const SIZES = (process.env.BENCH_SIZES || "1000,10000,100000").split(",").map(s => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 100) throw new Error(`BENCH_SIZES: "${s}" is not a whole number ≥ 100`);
  return n;
});
const OUT = resolve(process.env.BENCH_OUT || resolve(__dirname, "results"));
const SECONDS = numberEnv("BENCH_SECONDS", 3);
const WARMUP_SECONDS = numberEnv("BENCH_WARMUP_SECONDS", 2);
const LOAD_SECONDS = numberEnv("BENCH_LOAD_SECONDS", 8);
const WRITES = numberEnv("BENCH_WRITES", 40);
const LOAD_RATE = numberEnv("BENCH_LOAD_RATE", 200);
const ROUNDS = numberEnv("BENCH_ROUNDS", 5);
/** each round's seconds for each server: BENCH_SECONDS shared among the rounds, at least 0.2 s */
const ROUND_SECONDS = Math.max(0.2, SECONDS / ROUNDS);
const UPDATES_PER_SECOND = 1000;
const CLIENTS = 16;
const TSX = ["--import", "tsx"];

/** The CPUs a process may run on (/proc/<pid>/status's Cpus_allowed_list, as "0-1" or "0,2-3"). */
function cpusOf(pid: number | "self"): number[] {
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (!list) throw new Error(`/proc/${pid}/status has no Cpus_allowed_list`);
  return list.split(",").flatMap(range => {
    const [from, to = from] = range.split("-").map(Number);
    return Array.from({ length: to - from + 1 }, (_, k) => from + k);
  });
}

/**
 * Where the processes run (BENCH_PLACEMENT). `pinned-cluster`, the default where the bench may use
 * 2 CPUs or more and taskset is installed: the simulated cluster may use only the first CPU
 * (started under taskset); the contenders and the clients run on any. In a cluster the apiserver
 * runs on other machines: on all the CPUs, the simulator's collector at 100k pods took up to 0.96 of
 * a core while the updates flowed, and the contender's latency was partly the simulator's. A
 * contender pinned to a CPU of its own did worse (its GC threads then preempt its event loop):
 * measured, lag p99 18 against 9.5 ms at 1k pods. `shared`: no CPU is set, all share them all.
 */
function placement(): BenchResults["placement"] {
  const asked = process.env.BENCH_PLACEMENT || undefined;
  if (asked !== undefined && asked !== "pinned-cluster" && asked !== "shared")
    throw new Error(`BENCH_PLACEMENT must be pinned-cluster or shared, got "${asked}"`);
  if (asked === "shared") return { mode: "shared" };
  const cpus = cpusOf("self");
  let taskset = true;
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
  } catch {
    taskset = false;
  }
  if (asked === "pinned-cluster" && (cpus.length < 2 || !taskset))
    throw new Error(
      `BENCH_PLACEMENT=pinned-cluster needs 2 CPUs and taskset (util-linux); this process may use ${cpus.length}${taskset ? "" : ", and taskset is not installed"}`,
    );
  if (cpus.length < 2 || !taskset) return { mode: "shared" };
  return { mode: "pinned-cluster", clusterCpu: cpus[0] };
}
const PLACEMENT = placement();

/** fork()'s options to run node with `execArgv` on one CPU, or on any (taskset execs node: the child's pid is node's) */
const onCpu = (cpu: number | undefined, execArgv: string[]) =>
  cpu === undefined
    ? { execArgv }
    : { execPath: "taskset", execArgv: ["-c", String(cpu), process.execPath, ...execArgv] };

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const say = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** The simulated cluster's process, and the questions it answers over IPC. */
class Sim {
  #next = 1;
  readonly #pending = new Map<number, (result: unknown) => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly ready: SimReady,
  ) {
    child.on("message", (m: { id?: number; result?: unknown }) => {
      if (m.id !== undefined) this.#pending.get(m.id)?.(m.result);
      this.#pending.delete(m.id!);
    });
  }

  static async start(pods: number): Promise<Sim> {
    // 100k realistic pods and their watch history need more than Node's default heap
    const child = fork(resolve(__dirname, "sim-host.ts"), [], {
      ...onCpu(PLACEMENT.clusterCpu, [...TSX, "--max-old-space-size=16384"]),
      env: { ...process.env, BENCH_PODS: String(pods), LOG_LEVEL: "warn" },
    });
    const ready = await new Promise<SimReady>((ok, fail) => {
      child.once("exit", code => fail(new Error(`the simulated cluster exited (${code}) before it was seeded`)));
      child.on("message", (m: SimReady) => m.type === "ready" && ok(m));
    });
    child.removeAllListeners("exit");
    return new Sim(child, ready);
  }

  ask<T>(cmd: SimRequest): Promise<T> {
    const id = this.#next++;
    return new Promise(ok => {
      this.#pending.set(id, ok as (r: unknown) => void);
      this.child.send({ ...cmd, id });
    });
  }

  async close(): Promise<void> {
    const exited = new Promise(r => this.child.once("exit", r));
    this.child.disconnect();
    await exited;
  }
}

/** A contender's process: its port, its output's tail (for why it failed), and its exit. */
interface Running {
  child: ChildProcess;
  url: string;
  tail: () => string;
  exited: Promise<number | null>;
}

/** where contenders are bundled: inside node_modules, so that their packages resolve from there */
const BUNDLES = resolve(__dirname, "../node_modules/.cache/podindex-bench");

const bundles = new Map<string, Promise<string>>();

/**
 * Bundle a contender (bench/<file>.ts) as `pepr build` does the module: our code in one file,
 * packages external. Once a run: every size starts the same code.
 */
function bundle(file: string): Promise<string> {
  let made = bundles.get(file);
  if (!made) bundles.set(file, (made = bundleNow(file)));
  return made;
}

async function bundleNow(file: string): Promise<string> {
  const outfile = resolve(BUNDLES, file.replace(/\.ts$/, ".cjs"));
  await build({
    entryPoints: [resolve(__dirname, file)],
    outfile,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "cjs",
    keepNames: true,
    logLevel: "warning",
  });
  return outfile;
}

async function startChild(file: string, env: Record<string, string>, node: string[] = []): Promise<Running> {
  const child = fork(await bundle(file), [], {
    execArgv: node,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let output = "";
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-4000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<number | null>(r => child.once("exit", code => r(code)));
  const tail = () => output.trim().split("\n").slice(-5).join(" | ");
  const port = await Promise.race([
    new Promise<number>(ok => child.on("message", (m: ChildMessage) => m.type === "listening" && ok(m.port))),
    exited.then(code => {
      throw new Error(`exited (${code}) before listening: ${tail()}`);
    }),
  ]);
  return { child, url: `http://127.0.0.1:${port}`, tail, exited };
}

async function stopChild(r: Running): Promise<void> {
  if (r.child.exitCode === null && r.child.connected) r.child.disconnect();
  const killed = setTimeout(() => r.child.kill("SIGKILL"), 5000);
  await r.exited;
  clearTimeout(killed);
}

/** Poll /readyz until it answers 200; the seconds since `t0`. `check` (every half second) may throw to give up. */
async function untilReady(r: Running, t0: number, timeoutMs: number, check?: () => Promise<void>): Promise<number> {
  let exitedWith: number | null | undefined;
  void r.exited.then(code => (exitedWith = code));
  // a contender busy parsing a whole list answers /readyz late, and the cluster serving it answers
  // `check` late: neither wait may outlast the time-out (at 100k they overshot it by up to 46 s)
  const inTime = async <T>(p: Promise<T>): Promise<T | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>(
      ok => (timer = setTimeout(() => ok(undefined), timeoutMs - (performance.now() - t0))),
    );
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  for (let n = 0; ; n++) {
    if (exitedWith !== undefined) throw new Error(`exited (${exitedWith}) before ready: ${r.tail()}`);
    if (check && n % 10 === 0) await inTime(check());
    const res = await inTime(send(`${r.url}/readyz`).catch(() => undefined));
    if (res?.status === 200) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`not ready after ${(timeoutMs / 1000).toFixed(0)} s: ${res?.body.slice(0, 200) ?? "no answer"}`);
    await sleep(50);
  }
}

function memoryOf(r: Running): Promise<ChildMemory> {
  return new Promise(ok => {
    const on = (m: ChildMessage) => {
      if (m.type !== "memory") return;
      r.child.off("message", on);
      ok(m);
    };
    r.child.on("message", on);
    r.child.send("memory");
  });
}

/** The simulator's own time to serve, and this process's to parse, the whole pod list in pages of 500. */
async function pagedListSeconds(sim: Sim): Promise<{ seconds: number; pods: number; bytes: number }> {
  const t0 = performance.now();
  let token = "";
  let pods = 0;
  let bytes = 0;
  do {
    const res = await send(
      `${sim.ready.url}/api/v1/pods?limit=500${token ? `&continue=${encodeURIComponent(token)}` : ""}`,
    );
    if (res.status !== 200)
      throw new Error(`the simulator's pod list answered ${res.status}: ${res.body.slice(0, 200)}`);
    bytes += res.body.length;
    const page = JSON.parse(res.body) as { items: unknown[]; metadata: { continue?: string } };
    pods += page.items.length;
    token = page.metadata.continue ?? "";
  } while (token);
  return { seconds: (performance.now() - t0) / 1000, pods, bytes };
}

/** Random pods' lookups (every pod is served by PodIndex "all"), the same sequence for every contender. */
function lookups(pods: number): Load {
  let seed = 42;
  const ips = Array.from({ length: 4096 }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return benchPod(seed % pods, pods).ip;
  });
  return { url: i => `/v1/pods/by-ip/${ips[i % ips.length]}` };
}

const at = (base: string, load: Load): Load => ({ ...load, url: i => base + load.url(i) });

/** Forward-auth decisions for callers PodIndex "fission" serves (its first tenth of the namespaces), all allowed. */
function forwardAuths(base: string, pods: number): Load {
  const namespaces = namespacesFor(pods);
  const served = Math.max(1, Math.floor(namespaces / 10));
  return {
    url: () => `${base}/v1/forward-auth?index=fission&namespace=team-1&name=fn`,
    headers: i => ({
      "x-forwarded-for": benchPod(((i * 7919) % Math.floor(pods / namespaces)) * namespaces + (i % served), pods).ip,
    }),
  };
}

/**
 * When each `bench-write` label value first reached a watch of the bench's own on the simulator's
 * pods (ms, performance.now()): the simulator's part of a write → lookup. Close it with `stop`.
 */
async function watchWrites(sim: Sim): Promise<{ seen: Map<string, number>; stop: () => void }> {
  const list = await send(`${sim.ready.url}/api/v1/pods?limit=1`);
  const rv = (JSON.parse(list.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  const seen = new Map<string, number>();
  const { request } = await import("node:http");
  const req = request(`${sim.ready.url}/api/v1/pods?watch=true&resourceVersion=${rv}`);
  const open = new Promise<void>((ok, fail) => {
    req.once("error", fail);
    req.once("response", res => {
      if (res.statusCode !== 200) return fail(new Error(`watch pods: ${res.statusCode}`));
      let rest = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop()!;
        for (const line of lines) {
          const value = /"bench-write":"([^"]+)"/.exec(line)?.[1];
          if (value !== undefined && !seen.has(value)) seen.set(value, performance.now());
        }
      });
      res.on("error", () => {});
      ok();
    });
  });
  req.end();
  await open;
  return { seen, stop: () => req.destroy() };
}

/**
 * Write a label through the simulator's HTTP API, then look the pod up until the answer shows it.
 * Beside it, the same write → its event on a watch of the bench's own (`watch`).
 */
async function writeToLookup(base: string, sim: Sim, pods: number, tag: string): Promise<WriteFigures> {
  const samples: number[] = [];
  const watched: number[] = [];
  let failures = 0;
  const { Agent } = await import("node:http");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const watch = await watchWrites(sim);
  try {
    for (let k = 0; k < WRITES; k++) {
      const pod = benchPod((k * 104729 + 17) % pods, pods);
      const value = `${tag}-${k}`;
      const t0 = performance.now();
      const res = await send(`${sim.ready.url}/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`, {
        method: "PATCH",
        headers: { "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ metadata: { labels: { "bench-write": value } } }),
      });
      if (res.status !== 200)
        throw new Error(`PATCH pod ${pod.namespace}/${pod.name}: ${res.status} ${res.body.slice(0, 200)}`);
      for (;;) {
        const answer = await send(`${base}/v1/pods/by-ip/${pod.ip}`, { agent });
        if (answer.body.includes(`"bench-write":"${value}"`)) {
          samples.push(performance.now() - t0);
          break;
        }
        if (performance.now() - t0 > 5000) {
          failures++;
          break;
        }
      }
      // the lookup showed it, so the event left the simulator: the bench's watch has it or will in a moment
      const until = performance.now() + 5000;
      while (!watch.seen.has(value) && performance.now() < until) await sleep(1);
      const at = watch.seen.get(value);
      if (at !== undefined) watched.push(at - t0);
    }
  } finally {
    watch.stop();
    agent.destroy();
  }
  return { lookup: summarise(samples, failures), watch: summarise(watched, WRITES - watched.length) };
}

interface WriteFigures {
  lookup: Latency;
  watch: Latency;
}

const LAG = /^podindex_event_loop_lag_seconds\{quantile="(0\.99|1)"\} (\S+)$/gm;
const LAG_BUCKET = /^podindex_event_loop_lag_histogram_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm;

/** podindex's lag quantiles since the previous scrape (0.99, and 1: the maximum), in ms, from a /metrics text */
const lagQuantilesMs = (metrics: string): Record<string, number> =>
  Object.fromEntries([...metrics.matchAll(LAG)].map(m => [m[1], Number(m[2]) * 1000]));

/** the bench's own lag sampler's interval (ms), as podindex's: Node counts it in every sample */
const LAG_RESOLUTION_MS = 10;

/** podindex's lag histogram (every sample since it started) from a /metrics text */
const lagBuckets = (metrics: string): Buckets =>
  [...metrics.matchAll(LAG_BUCKET)].map(m => [m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);

/**
 * Requests from 16 clients for BENCH_WARMUP_SECONDS, not measured: V8 compiles a path's optimised
 * code only after it has run many times, in the contender and in this process. A fresh process
 * answered its first lookups 2–5× slower for several seconds (server and client CPU a request
 * ~500 µs each, then ~170 and ~210), which a figure of a process that runs for days should not count.
 */
const warmUp = (load: Load) => concurrent(load, CLIENTS, WARMUP_SECONDS);

/** Lookups (and, for podindex, forward-auth and /metrics every second) while 1,000 pod updates a second flow. */
async function underLoad(r: Running, sim: Sim, pods: number, podindex: boolean): Promise<ContenderResult["underLoad"]> {
  if (podindex) await warmUp(forwardAuths(r.url, pods));
  const updates = sim.ask<{ written: number; seconds: number }>({
    type: "updates",
    perSecond: UPDATES_PER_SECOND,
    seconds: WARMUP_SECONDS + LOAD_SECONDS,
  });
  // the updates' first seconds are their warm-up (the watch path's code compiled): measured after it
  await sleep(WARMUP_SECONDS * 1000);
  // the lag quantiles count from the last scrape; the histogram, from here to the phase's last scrape
  const lagBefore = podindex ? lagBuckets((await send(`${r.url}/metrics`)).body) : [];
  const cpuBefore = cpuOf(r, sim);
  const clientLag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  clientLag.enable();
  const scrapes: { ms: number; lagP99Ms: number; lagMaxMs: number }[] = [];
  let over = false;
  void updates.then(() => (over = true));
  // every second, and at least once: a machine slow enough to end the phase within its first second still reads the lag
  const scraper = async () => {
    await sleep(1000);
    for (let n = 0; n === 0 || !over; n++) {
      const t0 = performance.now();
      const res = await send(`${r.url}/metrics`);
      const lag = lagQuantilesMs(res.body);
      scrapes.push({ ms: performance.now() - t0, lagP99Ms: lag["0.99"] ?? NaN, lagMaxMs: lag["1"] ?? NaN });
      await sleep(Math.max(0, 1000 - (performance.now() - t0)));
    }
  };
  const [lookup, forwardAuth, written] = await Promise.all([
    paced(at(r.url, lookups(pods)), LOAD_RATE, updates),
    podindex ? paced(forwardAuths(r.url, pods), LOAD_RATE, updates) : undefined,
    updates,
    podindex ? scraper() : undefined,
  ]);
  const cpuCores = coresSince(cpuBefore, cpuOf(r, sim));
  clientLag.disable();
  const last = podindex ? (await send(`${r.url}/metrics`)).body : "";
  const sortedMs = scrapes.map(s => s.ms).sort((a, b) => a - b);
  return {
    updatesPerSecond: written.written / written.seconds,
    lookup,
    cpuCores,
    clientLagMs: {
      p99: Math.max(0, clientLag.percentile(99) / 1e6 - LAG_RESOLUTION_MS),
      max: Math.max(0, clientLag.max / 1e6 - LAG_RESOLUTION_MS),
    },
    ...(podindex
      ? {
          forwardAuth,
          eventLoopLagP99Ms: histogramQuantile(lagBefore, lagBuckets(last), 0.99) * 1000,
          eventLoopLagWorstSecondP99Ms: Math.max(...scrapes.map(s => s.lagP99Ms).filter(Number.isFinite)),
          eventLoopLagMaxMs: Math.max(
            ...[...scrapes.map(s => s.lagMaxMs), lagQuantilesMs(last)["1"]].filter(Number.isFinite),
          ),
          metricsScrapeMs: { p50: quantile(sortedMs, 0.5), max: sortedMs[sortedMs.length - 1] },
        }
      : {}),
  };
}

/**
 * Sequential latency, then 16 clients' answers a second in BENCH_ROUNDS rounds, each round loading
 * the contender and the constant route (`floor`, warmed up before) in turn (http-load's `paired`),
 * each process stopped while the other is loaded.
 */
async function lookupFigures(
  r: Running,
  pods: number,
  floor: Running,
): Promise<NonNullable<ContenderResult["lookup"]>> {
  const [load, floorLoad] = [at(r.url, lookups(pods)), at(floor.url, lookups(pods))];
  await warmUp(load);
  const seq = await sequential(load, SECONDS);
  const p = await paired(load, floorLoad, CLIENTS, ROUNDS, ROUND_SECONDS, {
    a: { pid: r.child.pid! },
    b: { pid: floor.child.pid! },
  });
  return {
    sequential: seq,
    concurrent: p.a,
    constant: { concurrent: p.b, ratio: p.aPerB, rounds: p.rounds, ratios: p.ratios },
  };
}

interface Plan {
  key: ContenderResult["key"];
  file: string;
  env: Record<string, string>;
  /** node's own flags */
  node?: string[];
  podindex: boolean;
}

const PLANS: Plan[] = [
  // podindex with node's flags as its Deployment gives them
  { key: "feed", file: "run-module.ts", env: { PODINDEX_SOURCE: "feed" }, node: NODE_FLAGS, podindex: true },
  { key: "pepr", file: "run-module.ts", env: { PODINDEX_SOURCE: "pepr" }, node: NODE_FLAGS, podindex: true },
  // the flags a developer would give the informer: with node's default heap limit (about 4 GiB
  // here) its 3.9 GiB of pods at 100k left it collecting garbage most of its 410 s to ready, and
  // with the default young generation its list still took 108 s to ready and it answered 10k
  // lookups a second at 100k (64 MiB semi-spaces: 43 s and 30k)
  {
    key: "informer",
    file: "informer-server.ts",
    env: {},
    node: ["--max-old-space-size=12288", "--max-semi-space-size=64"],
    podindex: false,
  },
];

const CONTENDERS = (process.env.BENCH_CONTENDERS || PLANS.map(p => p.key).join(",")).split(",");
for (const c of CONTENDERS)
  if (!PLANS.some(p => p.key === c))
    throw new Error(`BENCH_CONTENDERS: "${c}" is none of ${PLANS.map(p => p.key).join(", ")}`);

/** The constant route's process for one size, and its sequential latency. */
interface Floor {
  running?: Running;
  sequential?: Latency;
}

/**
 * Start the constant route answering `body` (the first answer a contender gives), warm it up and
 * read its sequential latency, once a size: the first contender waits meanwhile.
 */
async function startFloor(floor: Floor, body: string, pods: number): Promise<Running> {
  if (floor.running) return floor.running;
  floor.running = await startChild("constant-server.ts", { BENCH_CONSTANT_BODY: body });
  const load = at(floor.running.url, lookups(pods));
  await warmUp(load);
  floor.sequential = await sequential(load, SECONDS);
  return floor.running;
}

async function runContender(
  plan: Plan,
  sim: Sim,
  pods: number,
  readyTimeoutMs: number,
  floor: Floor,
): Promise<ContenderResult> {
  const from = await sim.ask<number>({ type: "requestCount" });
  const t0 = performance.now();
  let r: Running | undefined;
  try {
    r = await startChild(
      plan.file,
      { ...plan.env, KUBECONFIG: sim.ready.kubeconfigPath, PODINDEX_TRUSTED_PROXIES: "127.0.0.1/32" },
      plan.node,
    );
    // podindex's paged feed lists with `limit`, Pepr's watcher does not: a module that ignores
    // PODINDEX_SOURCE=pepr would be measured as the feed
    const source = async () => {
      const lists = await sim.ask<string[]>({ type: "podListsSince", from });
      if (plan.key === "pepr" && lists.some(p => /[?&]limit=/.test(p)))
        throw new Error("PODINDEX_SOURCE=pepr was not taken up: the module listed pods with its paged feed");
    };
    const startToReadySeconds = await untilReady(r, t0, readyTimeoutMs, source);
    await source();
    const sample = await send(`${r.url}${lookups(pods).url(0)}`);
    const constant = await startFloor(floor, sample.body, pods);
    const lookup = await lookupFigures(r, pods, constant);
    const load = await underLoad(r, sim, pods, plan.podindex);
    const write = await writeToLookup(r.url, sim, pods, plan.key);
    // last: the inspector session the contender's collection takes left its answers about a quarter
    // slower for the rest of its life (bench/child.ts)
    const memory = await memoryOf(r);
    return {
      key: plan.key,
      available: true,
      startToReadySeconds,
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        maxRssBytes: memory.maxRss,
        heapLimitBytes: memory.heapLimit,
        rssPerPodBytes: memory.rss / pods,
        heapPerPodBytes: memory.heapUsed / pods,
      },
      lookup,
      underLoad: load,
      writeToLookup: write.lookup,
      writeToWatch: write.watch,
      sampleAnswer: sample.body,
    };
  } catch (err) {
    return { key: plan.key, available: false, reason: (err as Error).message };
  } finally {
    if (r) await stopChild(r);
  }
}

/** The constant route's own column: its sequential latency, and its answers in its rounds beside the first contender. */
async function runConstant(floor: Floor, pods: number, first: ContenderResult | undefined): Promise<ContenderResult> {
  const r = await startFloor(floor, "{}", pods);
  return {
    key: "constant",
    available: true,
    lookup: {
      sequential: floor.sequential!,
      concurrent: first?.lookup?.constant?.concurrent ?? (await concurrent(at(r.url, lookups(pods)), CLIENTS, SECONDS)),
    },
  };
}

/** USER_HZ: the unit of /proc's CPU times (100 a second on every Linux platform node runs on) */
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used, user and system (/proc/<pid>/stat's utime and stime) */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // fields after the command, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / TICKS_PER_SECOND;
}

interface CpuReading {
  at: number;
  contender: number;
  cluster: number;
  client: number;
  machineBusyTicks: number;
  stealTicks: number;
}

/** CPU used so far by the contender, the simulated cluster, this process (the clients) and the machine */
function cpuOf(r: Running, sim: Sim): CpuReading {
  const usage = process.cpuUsage();
  const ticks = cpuTicks();
  return {
    at: performance.now(),
    contender: cpuSecondsOf(r.child.pid!),
    cluster: cpuSecondsOf(sim.child.pid!),
    client: (usage.user + usage.system) / 1e6,
    machineBusyTicks: ticks.total - ticks.idle - ticks.steal,
    stealTicks: ticks.steal,
  };
}

/** what each used between two readings, in cores */
function coresSince(a: CpuReading, b: CpuReading): NonNullable<ContenderResult["underLoad"]>["cpuCores"] {
  const seconds = (b.at - a.at) / 1000;
  const cores = (x: number) => x / seconds;
  return {
    contender: cores(b.contender - a.contender),
    cluster: cores(b.cluster - a.cluster),
    client: cores(b.client - a.client),
    machine: cores((b.machineBusyTicks - a.machineBusyTicks) / TICKS_PER_SECOND),
    stolen: cores((b.stealTicks - a.stealTicks) / TICKS_PER_SECOND),
    machineCores: os.availableParallelism(),
  };
}

/** the share of the machine's CPU time since `before` that the hypervisor took (steal) */
const stealSince = (before: { total: number; steal: number }) => {
  const now = cpuTicks();
  return (now.steal - before.steal) / Math.max(1, now.total - before.total);
};

/**
 * the machine's CPU time so far (/proc/stat's first line), in clock ticks: all of it, what no
 * process used (idle and iowait), and what the hypervisor gave to other machines (steal)
 */
function cpuTicks(): { total: number; idle: number; steal: number } {
  const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: ticks.reduce((a, b) => a + b, 0), idle: ticks[3] + ticks[4], steal: ticks[7] ?? 0 };
}

/** One size's run; each contender's failure or heap is noted in `skips`, which may rule it out at a larger size. */
async function runSize(pods: number, skips: Skips): Promise<SizeResult> {
  const sizeStarted = performance.now();
  const loadBefore = os.loadavg()[0];
  const ticksBefore = cpuTicks();
  say(`${pods} pods: seeding the simulated cluster`);
  const sim = await Sim.start(pods);
  const floor: Floor = {};
  try {
    const { podBytes, seedSeconds, namespaces, slices } = sim.ready;
    say(
      `${pods} pods in ${namespaces} namespaces, ${slices} EndpointSlices, ${podBytes.mean} B of JSON a pod (seeded in ${seedSeconds.toFixed(1)} s)`,
    );
    const list = await pagedListSeconds(sim);
    say(
      `the simulator's paged list: ${list.seconds.toFixed(2)} s for ${list.pods} pods (${(list.bytes / 1e6).toFixed(0)} MB)`,
    );
    const contenders: ContenderResult[] = [];
    let feedReady = 0;
    for (const plan of PLANS.filter(p => CONTENDERS.includes(p.key))) {
      const reason = skips.skip(plan.key, pods);
      if (reason) {
        say(`${pods} pods: ${plan.key} ${reason}`);
        contenders.push({ key: plan.key, available: false, reason });
        continue;
      }
      const timeout = plan.key === "pepr" ? Math.max(20_000, 2000 * feedReady) : 600_000;
      say(`${pods} pods: ${plan.key}`);
      const began = performance.now();
      const result = await runContender(plan, sim, pods, timeout, floor);
      result.benchSeconds = (performance.now() - began) / 1000;
      if (plan.key === "feed" && result.available) feedReady = result.startToReadySeconds!;
      if (!result.available) skips.failed(plan.key, pods);
      else skips.measured(plan.key, pods, result.memory!.heapUsedBytes, result.memory!.heapLimitBytes);
      say(
        result.available
          ? `${plan.key}: ready in ${result.startToReadySeconds!.toFixed(2)} s`
          : `${plan.key}: not available (${result.reason})`,
      );
      contenders.push(result);
    }
    say(`${pods} pods: constant Fastify route`);
    const began = performance.now();
    const constant = await runConstant(
      floor,
      pods,
      contenders.find(c => c.lookup?.constant),
    );
    contenders.push({ ...constant, benchSeconds: (performance.now() - began) / 1000 });
    return {
      pods,
      namespaces,
      slices,
      podBytes,
      seedSeconds,
      seconds: (performance.now() - sizeStarted) / 1000,
      pagedList: { seconds: list.seconds, bytes: list.bytes, pageSize: 500 },
      clusterCpus: cpusOf(sim.child.pid!),
      contenders,
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
      cpuStealShare: stealSince(ticksBefore),
    };
  } finally {
    if (floor.running) await stopChild(floor.running);
    await sim.close();
  }
}

function machine(): BenchResults["machine"] {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  return {
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown",
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: machine(),
    placement: PLACEMENT,
    requestedSizes: SIZES,
    complete: false,
    sizes: [],
    totalSeconds: 0,
  };
  say(
    `sizes ${SIZES.join(", ")} on ${results.machine.nproc} × ${results.machine.cpuModel}, node ${results.machine.node}`,
  );
  mkdirSync(OUT, { recursive: true });
  // written after every size, so a run stopped early still leaves what it measured (complete: false)
  const skips = new Skips();
  for (const pods of SIZES) {
    results.sizes.push(await runSize(pods, skips));
    results.complete = results.sizes.length === SIZES.length;
    results.totalSeconds = (performance.now() - started) / 1000;
    writeFileSync(resolve(OUT, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(resolve(OUT, "chart.svg"), chartSvg(results));
  }
  printResults(results);
  say(`wrote ${resolve(OUT, "latest.json")} and chart.svg in ${results.totalSeconds.toFixed(0)} s`);
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
