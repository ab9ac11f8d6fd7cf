/**
 * The bench's HTTP clients (keep-alive): one-off requests, sequential latency and paced
 * (open-loop) requests with node:http, throughput under concurrent clients with autocannon. Times
 * are in milliseconds.
 */
import autocannon from "autocannon";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";

export interface Reply {
  status: number;
  body: string;
}

export interface RequestOptions {
  agent?: Agent;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request; a fresh connection unless an agent is given. */
export function send(url: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? "GET",
        agent: opts.agent,
        headers: { ...(opts.agent ? {} : { connection: "close" }), ...opts.headers },
      },
      res => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** The pth quantile (0–1) of ascending samples. */
export function quantile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** A Prometheus histogram's cumulative counts by upper bound (`le`, +Inf last), as scraped. */
export type Buckets = [le: number, cumulative: number][];

/**
 * The pth quantile (0–1) of the observations a histogram gained between two scrapes, interpolated
 * linearly within its bucket as Prometheus' histogram_quantile does (the highest finite bound when
 * it falls past it); NaN without observations.
 */
export function histogramQuantile(before: Buckets, after: Buckets, p: number): number {
  const gained = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as const);
  const total = gained[gained.length - 1]?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = p * total;
  let [lower, below] = [0, 0];
  for (const [le, n] of gained) {
    if (n >= rank) return le === Infinity ? lower : lower + ((le - lower) * (rank - below)) / (n - below || 1);
    [lower, below] = [le, n];
  }
  return lower;
}

export interface Latency {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** answers that were not the expected status */
  failures: number;
}

/** p50, p99 and max of latency samples (ms), sorted in place. */
export function summarise(samples: number[], failures: number): Latency {
  samples.sort((a, b) => a - b);
  return {
    requests: samples.length,
    p50Ms: quantile(samples, 0.5),
    p99Ms: quantile(samples, 0.99),
    maxMs: samples[samples.length - 1] ?? NaN,
    failures,
  };
}

export interface Load {
  /** the ith request's URL */
  url: (i: number) => string;
  headers?: (i: number) => Record<string, string>;
  /** the status a correct answer has (a 404 or 503 is counted as a failure, not a sample) */
  expect?: number;
}

/**
 * Requests one after another on one keep-alive connection, for `seconds` (after `warmup` requests)
 * or until `until` resolves.
 */
export async function sequential(
  load: Load,
  seconds: number,
  until?: Promise<unknown>,
  warmup = 200,
): Promise<Latency> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  let failures = 0;
  let done = false;
  let end = Infinity;
  void until?.then(() => (done = true));
  const deadline = () => (until ? done : performance.now() > end);
  try {
    for (let i = 0; ; i++) {
      if (i === warmup) end = performance.now() + seconds * 1000;
      if (i >= warmup && deadline()) break;
      const t0 = performance.now();
      const res = await send(load.url(i), { agent, headers: load.headers?.(i) });
      const ms = performance.now() - t0;
      if (i < warmup) continue;
      if (res.status === (load.expect ?? 200)) samples.push(ms);
      else failures++;
    }
  } finally {
    agent.destroy();
  }
  return summarise(samples, failures);
}

export interface Throughput extends Latency {
  perSecond: number;
  clients: number;
}

/**
 * the distinct requests a concurrent load cycles through, shared out among its connections: each
 * cycles through its own slice. autocannon copies its options, requests included, for every
 * connection, and builds each request's bytes once before it sends: 16 connections × all 4,096
 * took 0.45 s a run (12 runs a contender), their own 256 each 0.03 s.
 */
const CONCURRENT_REQUESTS = 4096;

/**
 * `clients` keep-alive connections, each sending its next request when its last is answered, for
 * `seconds` after half a second that is not counted. The clients are autocannon's, which writes
 * requests it built once and parses answers with little garbage: node:http's own client needed a
 * whole core for 18k lookups a second of the constant route, whose server then used 0.6 of one,
 * so the figure measured the client. autocannon sent 44k a second with the server at 0.83 of a
 * core. Each answer's time is its own (autocannon's histogram keeps whole milliseconds).
 */
export async function concurrent(load: Load, clients: number, seconds: number): Promise<Throughput> {
  return throughput([await answers(load, clients, seconds, 0.5)], clients);
}

/** The answers of one concurrent run: each answer's time (ms), the failures, the seconds they came in. */
interface Answers {
  samples: number[];
  failures: number;
  seconds: number;
}

/** One or more runs' answers as one figure: their latencies, and answers a second over their seconds. */
function throughput(runs: readonly Answers[], clients: number): Throughput {
  const samples = runs.flatMap(r => r.samples);
  const failures = runs.reduce((n, r) => n + r.failures, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  return { ...summarise(samples, failures), perSecond: samples.length / seconds, clients };
}

async function answers(load: Load, clients: number, seconds: number, warmSeconds: number): Promise<Answers> {
  const origin = new URL(load.url(0)).origin;
  const requests = Array.from({ length: CONCURRENT_REQUESTS }, (_, i) => {
    const url = new URL(load.url(i));
    if (url.origin !== origin) throw new Error(`a concurrent load has one origin: ${url.origin} is not ${origin}`);
    return { method: "GET" as const, path: url.pathname + url.search, headers: load.headers?.(i) };
  });
  const slice = Math.ceil(requests.length / clients);
  let connection = 0;
  const samples: number[] = [];
  let failures = 0;
  // autocannon builds every client's requests before it sends: its duration, and the seconds not
  // counted, start once it has. The answers counted are those of the `seconds` after the warm-up:
  // a server that stalls or answers nothing reads as few or none a second, not as the answers it
  // gave before it stalled over the time until then
  let warm = Infinity;
  let end = -Infinity;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon(
      {
        url: origin,
        connections: clients,
        // autocannon stops at its first sample tick after `duration`: ticks every 100 ms, not every second
        duration: seconds + warmSeconds,
        sampleInt: 100,
        // the first request only, as autocannon copies it for each connection, which then takes its own slice
        requests: requests.slice(0, 1),
        setupClient: client => {
          const k = connection++ % clients;
          client.setRequests(requests.slice(k * slice, (k + 1) * slice));
        },
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    run.once("start", () => {
      warm = performance.now() + warmSeconds * 1000;
      end = warm + seconds * 1000;
    });
    run.on("response", (_client, status, _bytes, ms) => {
      const now = performance.now();
      if (now < warm || now > end) return;
      if (status === (load.expect ?? 200)) samples.push(ms);
      else failures++;
    });
  });
  return { samples, failures: failures + result.errors, seconds };
}

/** Two servers loaded in turn, and how their answers a second compare in the same seconds. */
export interface Paired {
  a: Throughput;
  b: Throughput;
  /** the median over the rounds of a's answers a second ÷ b's in the same round */
  aPerB: number;
  rounds: number;
  /** each round's ratio, in the order the rounds ran */
  ratios: number[];
}

/** A server's process, stopped (SIGSTOP) while the other server of a pair is loaded, and resumed (SIGCONT) after. */
export interface Held {
  pid: number;
}

/** a process's state, as /proc/<pid>/stat gives it (R running, S sleeping, T stopped, …) */
export const stateOf = (pid: number) => /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1];

/** SIGSTOP, and wait until the process has stopped (a busy one takes its signal when next scheduled) */
async function stop(pid: number): Promise<void> {
  process.kill(pid, "SIGSTOP");
  for (const until = performance.now() + 1000; stateOf(pid) !== "T"; await new Promise(r => setTimeout(r, 1)))
    if (performance.now() > until) throw new Error(`process ${pid} did not stop within 1 s of SIGSTOP`);
}

/**
 * `concurrent` on `a` and on `b` in turn, `rounds` times, `seconds` each (after a quarter second
 * that is not counted), a first in even rounds and b first in odd ones. On a shared machine the
 * speed of the same server differs by 2× minutes apart; rounds a second long, side by side, see the
 * same machine, and the median of their ratios is what one server costs against the other.
 *
 * `held` processes are stopped while the other one is loaded, so that no work of one's (its
 * collector's threads finishing after its own turn, say) is charged to the other.
 */
export async function paired(
  a: Load,
  b: Load,
  clients: number,
  rounds: number,
  seconds: number,
  held: { a?: Held; b?: Held } = {},
): Promise<Paired> {
  const runs = { a: [] as Answers[], b: [] as Answers[] };
  const ratios: number[] = [];
  const turn = async (key: "a" | "b") => {
    const other = held[key === "a" ? "b" : "a"];
    if (other) await stop(other.pid);
    try {
      return await answers(key === "a" ? a : b, clients, seconds, 0.25);
    } finally {
      if (other) process.kill(other.pid, "SIGCONT");
    }
  };
  for (let round = 0; round < rounds; round++) {
    for (const key of round % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const)) runs[key].push(await turn(key));
    const [x, y] = [runs.a[round], runs.b[round]];
    ratios.push(x.samples.length / x.seconds / (y.samples.length / y.seconds));
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  return {
    a: throughput(runs.a, clients),
    b: throughput(runs.b, clients),
    aPerB: quantile(sorted, 0.5),
    rounds,
    ratios,
  };
}

export interface Paced extends Latency {
  /** the rate asked for */
  perSecond: number;
}

/**
 * Requests at `perSecond`, each sent when it is due whether or not the ones before it were
 * answered (an open loop, as a proxy's traffic arrives), until `until` resolves. A slow answer
 * does not hold back the requests after it (no coordinated omission), and each is timed from when
 * it was sent, so a pause of this process's own is not charged to the server.
 */
export async function paced(load: Load, perSecond: number, until: Promise<unknown>): Promise<Paced> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const samples: number[] = [];
  let failures = 0;
  let done = false;
  void until.then(() => (done = true));
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  try {
    for (let i = 0; !done; i++) {
      const due = t0 + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise(r => setTimeout(r, wait));
      if (done) break;
      const at = performance.now();
      const sent: Promise<void> = send(load.url(i), { agent, headers: load.headers?.(i) }).then(
        res => {
          if (res.status === (load.expect ?? 200)) samples.push(performance.now() - at);
          else failures++;
        },
        () => void failures++,
      );
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
    }
    await Promise.all(inFlight);
  } finally {
    agent.destroy();
  }
  return { ...summarise(samples, failures), perSecond };
}
