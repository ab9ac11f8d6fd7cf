/**
 * How fast podindex answers GET /v1/pods/by-ip/:ip over HTTP, against two yardsticks measured in
 * the same run: a constant Fastify route (Fastify's own floor) and a hand-written node:http server
 * answering from a Map<ip, pod> (what a team would write with an informer). Prints figures; asserts nothing.
 *
 *   node --expose-gc --import tsx bench/lookup-profile.ts
 *   BENCH_PODS=1000,100000 BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONCURRENCY=16 (the defaults)
 *   BENCH_ONLY=podindex,constant,hand-written (default all three); BENCH_CPU_PROFILE=<dir> (profiles)
 *
 * The servers run in this process; the load comes from a forked child process (its own core), so the
 * client's work is not charged to the server. The client is a raw keep-alive HTTP/1.1 client on
 * node:net (no pipelining): a node:http Agent client tops out below what the servers answer and would
 * measure itself.
 */
import { fork } from "node:child_process";
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector";
import { connect, type AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import Fastify from "fastify";
import type { PodLike } from "../src/cache/pod-record";
import { makePod } from "../test/support/pods";
import { makeSlice } from "../test/support/slices";
import { testServer } from "../test/support/server";

const NAMESPACES = 1000;

export const benchIp = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** N pods as a real cluster has them: Deployment-style names, the labels Helm and kubectl set, one owner. */
export function realisticPods(n: number): PodLike[] {
  return Array.from({ length: n }, (_, i) => {
    const app = `app-${i % 97}`;
    return makePod({
      name: `${app}-7d9f8b6c5d-${i.toString(36).padStart(5, "x")}`,
      namespace: `team-${i % NAMESPACES}`,
      uid: `8a3b${i.toString(16).padStart(4, "0").slice(-4)}-1c2d-4e5f-8a9b-${i.toString(16).padStart(12, "0")}`,
      labels: {
        app,
        tier: i % 2 ? "backend" : "frontend",
        "pod-template-hash": "7d9f8b6c5d",
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": `${app}-prod`,
        "app.kubernetes.io/part-of": "bench",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": `${app}-1.4.2`,
      },
      annotations: { "prometheus.io/scrape": "true", "kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z" },
      ips: [benchIp(i)],
      nodeName: `node-${i % 50}`,
      hostIP: `10.250.0.${i % 50}`,
      serviceAccountName: app,
    });
  });
}

export interface Target {
  port: number;
  close(): Promise<void>;
}

/**
 * The hand-written yardstick: node:http, a Map from IP to the pod's record (the fields podindex
 * answers with, taken from the pod as an informer holds it), JSON.stringify per request.
 */
export async function startHandWritten(pods: readonly PodLike[]): Promise<Target> {
  const byIp = new Map<string, Record<string, unknown>>();
  for (const p of pods) {
    const m = p.metadata ?? {};
    const record = {
      uid: m.uid,
      name: m.name,
      namespace: m.namespace,
      labels: m.labels ?? {},
      annotations: m.annotations ?? {},
      owners: (m.ownerReferences ?? []).map(o => ({ kind: o.kind, name: o.name })),
      serviceAccountName: p.spec?.serviceAccountName ?? null,
      nodeName: p.spec?.nodeName ?? null,
      hostIP: p.status?.hostIP ?? null,
      podIPs: (p.status?.podIPs ?? []).map(x => x.ip),
      hostNetwork: p.spec?.hostNetwork === true,
      phase: p.status?.phase ?? "Unknown",
      ready: p.status?.conditions?.some(c => c.type === "Ready" && c.status === "True") ?? false,
      creationTimestamp: m.creationTimestamp ?? null,
      deletionTimestamp: m.deletionTimestamp ?? null,
    };
    for (const { ip } of p.status?.podIPs ?? []) if (ip) byIp.set(ip, record);
  }
  const prefix = "/v1/pods/by-ip/";
  const server = createServer((req, res) => {
    const url = req.url ?? "";
    const ip = url.startsWith(prefix) ? url.slice(prefix.length) : "";
    const pod = byIp.get(ip);
    const body = pod ? JSON.stringify({ ip, pod }) : JSON.stringify({ error: "NotFound", ip });
    res.writeHead(pod ? 200 : 404, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  });
  return listening(server);
}

/** Fastify's floor: one route that sends the same object every time (`body`: the size of a real answer). */
export async function startConstantFastify(body: object): Promise<Target> {
  const app = Fastify();
  app.get("/v1/pods/by-ip/:ip", (_req, reply) => {
    reply.send(body);
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}

async function listening(server: Server): Promise<Target> {
  server.keepAliveTimeout = 60_000;
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>(resolve => server.close(() => resolve())),
  };
}

export interface DriveResult {
  requests: number;
  /** answers whose status was not 200 */
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Load `port` from `concurrency` keep-alive connections, each sending its next GET when the last
 * answer is in, for `seconds` after `warmupSeconds` of the same (not counted). Paths are taken
 * round-robin. Every answer must carry Content-Length (Fastify's and node:http's do).
 */
export async function drive(opts: {
  port: number;
  paths: readonly string[];
  concurrency: number;
  seconds: number;
  warmupSeconds?: number;
}): Promise<DriveResult> {
  const { port, paths, concurrency } = opts;
  const warmEnd = performance.now() + (opts.warmupSeconds ?? 1) * 1000;
  const end = warmEnd + opts.seconds * 1000;
  const samples: number[] = [];
  let errors = 0;
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      socket.setNoDelay(true);
      let pending: Buffer | undefined;
      let sentAt = 0;
      const send = () => {
        sentAt = performance.now();
        if (sentAt >= end) return void socket.end(resolve);
        socket.write(`GET ${paths[next++ % paths.length]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      };
      const fail = (why: string) => {
        socket.destroy();
        reject(new Error(why));
      };
      socket.on("connect", send);
      socket.on("error", reject);
      socket.on("data", chunk => {
        const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
        const headEnd = buf.indexOf("\r\n\r\n");
        if (headEnd < 0) return void (pending = buf);
        const head = buf.toString("latin1", 0, headEnd);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
        if (length === undefined) return fail(`an answer without Content-Length: ${head}`);
        const total = headEnd + 4 + Number(length);
        if (buf.length < total) return void (pending = buf);
        if (buf.length > total) return fail("bytes after an answer (no request was pipelined)");
        pending = undefined;
        const at = performance.now();
        if (sentAt >= warmEnd) {
          samples.push(at - sentAt);
          if (head.slice(9, 12) !== "200") errors++;
        }
        send();
      });
    });
  await Promise.all(Array.from({ length: concurrency }, one));
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? NaN;
  return {
    requests: samples.length,
    errors,
    perSecond: samples.length / opts.seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

/** drive() from a forked child process (this file), so that the load has a core of its own. */
export function driveInChild(opts: Parameters<typeof drive>[0]): Promise<DriveResult> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [], {
      env: { ...process.env, LOOKUP_PROFILE_CLIENT: "1" },
      // the server's profile only (node --cpu-prof bench/lookup-profile.ts)
      execArgv: process.execArgv.filter(a => !a.startsWith("--cpu-prof")),
    });
    child.once("message", (m: { result?: DriveResult; error?: string }) => {
      if (m.result) resolve(m.result);
      else reject(new Error(m.error));
      child.disconnect();
    });
    child.once("error", reject);
    child.send(opts);
  });
}

/** podindex's real server (buildServer through testServer) over N realistic pods, three PodIndexes, N/10 Services. */
export async function startPodindex(pods: readonly PodLike[]): Promise<Target> {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `team-${i}`);
  const server = testServer({
    all: { expose: { labels: ["*"], annotations: ["prometheus.io/scrape"] }, services: {} },
    half: { namespaces: namespaces.slice(0, NAMESPACES / 2), podSelector: { matchLabels: { tier: "backend" } } },
    edge: { namespaces: namespaces.slice(0, 100), forwardAuth: { allow: [{ namespace: "team-1", from: ["*"] }] } },
  });
  for (const p of pods) server.cache.upsert(p);
  for (let s = 0; s < pods.length / 10; s++) {
    const members = Array.from({ length: 10 }, (_, k) => {
      const p = pods[s * 10 + k];
      return { ip: p.status!.podIPs![0].ip!, pod: p.metadata!.name!, uid: p.metadata!.uid!, ready: k !== 0 };
    });
    const ns = pods[s * 10].metadata!.namespace!;
    server.endpoints.upsert(makeSlice(ns, `svc-${s}`, `svc-${s}-abcde`, members, { uid: `s-${s}` }));
  }
  server.sync();
  await server.app.listen({ port: 0, host: "127.0.0.1" });
  return { port: (server.app.server.address() as AddressInfo).port, close: () => server.app.close() };
}

const ms = (x: number) => `${x.toFixed(3)} ms`.padStart(10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Figures {
  seq: DriveResult;
  par: DriveResult;
  /** this process's CPU time (user + system) per answer under the concurrent load, µs */
  cpuUs: number;
}

/** Start V8's CPU profiler in this process; the function returned stops it and writes a .cpuprofile. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  const post = promisify(session.post.bind(session)) as (method: string, params?: object) => Promise<unknown>;
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 100 });
  await post("Profiler.start");
  return async file => {
    const { profile } = (await post("Profiler.stop")) as { profile: object };
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/** One target sequentially and then under concurrent load, with the server's CPU time per answer. */
async function measure(
  port: number,
  paths: readonly string[],
  concurrency: number,
  seconds: number,
  profileTo?: string,
): Promise<Figures> {
  const seq = await driveInChild({ port, paths, concurrency: 1, seconds });
  const profile = profileTo ? await startProfile() : undefined;
  const cpu0 = process.cpuUsage();
  const par = await driveInChild({ port, paths, concurrency, seconds, warmupSeconds: 0 });
  const cpu = process.cpuUsage(cpu0);
  if (profile && profileTo) await profile(profileTo);
  return { seq, par, cpuUs: (cpu.user + cpu.system) / par.requests };
}

/** The median of each figure over rounds (the machine may be shared: rounds alternate between targets). */
function medianOf(runs: Figures[]): Figures {
  const pick = (f: (r: Figures) => number) => median(runs.map(f));
  const result = (f: (r: Figures) => DriveResult): DriveResult => ({
    requests: pick(r => f(r).requests),
    errors: runs.reduce((sum, r) => sum + f(r).errors, 0),
    perSecond: pick(r => f(r).perSecond),
    p50Ms: pick(r => f(r).p50Ms),
    p99Ms: pick(r => f(r).p99Ms),
  });
  return { seq: result(r => r.seq), par: result(r => r.par), cpuUs: pick(r => r.cpuUs) };
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_PODS ?? "1000,100000").split(",").map(Number);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
  const only = process.env.BENCH_ONLY?.split(",");
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const perLookup: Record<number, number> = {};
  for (const n of sizes) {
    const pods = realisticPods(n);
    // every pod once, in an order that jumps across the cache
    const paths = Array.from({ length: n }, (_, i) => `/v1/pods/by-ip/${benchIp((i * 7919) % n)}`);
    const podindex = await startPodindex(pods);
    const sample = (await (await fetch(`http://127.0.0.1:${podindex.port}${paths[0]}`)).json()) as object;
    const wanted = (name: string) => !only || only.includes(name.split(" ")[0]);
    const targets: [string, Target][] = [];
    if (wanted("constant")) targets.push(["constant Fastify route", await startConstantFastify(sample)]);
    if (wanted("hand-written")) targets.push(["hand-written node:http", await startHandWritten(pods)]);
    if (wanted("podindex")) targets.push(["podindex", podindex]);
    else await podindex.close();
    gc();
    console.log(
      `\n${n} pods, answer ${JSON.stringify(sample).length} bytes, median of ${rounds} rounds of ${seconds} s (sequential) + ${seconds} s (${concurrency} clients)`,
    );
    const heapBefore = process.memoryUsage().heapUsed;
    const runs = new Map<string, Figures[]>(targets.map(([name]) => [name, []]));
    for (let round = 0; round < rounds; round++)
      for (const [name, target] of targets) {
        // BENCH_CPU_PROFILE=dir: a .cpuprofile of this process under each target's concurrent load
        const dir = process.env.BENCH_CPU_PROFILE;
        const file = dir && `${dir}/${name.split(" ")[0]}-${n}-${round}.cpuprofile`;
        runs.get(name)!.push(await measure(target.port, paths, concurrency, seconds, file));
      }
    gc();
    const grown = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    console.log(
      `heap grown over the runs (answers kept per pod looked up): ${grown >= 0 ? "+" : ""}${grown.toFixed(1)} MB (after GC)`,
    );
    for (const [, target] of targets) await target.close();
    const rates: Record<string, number> = {};
    for (const [name, figures] of runs) {
      const { seq, par, cpuUs } = medianOf(figures);
      rates[name] = par.perSecond;
      const errors = seq.errors + par.errors;
      console.log(
        `${name.padEnd(24)} sequential p50 ${ms(seq.p50Ms)} p99 ${ms(seq.p99Ms)}   ` +
          `${concurrency} clients ${par.perSecond.toFixed(0).padStart(6)}/s p50 ${ms(par.p50Ms)} p99 ${ms(par.p99Ms)}` +
          `   server CPU ${cpuUs.toFixed(1).padStart(5)} µs/answer` +
          (errors ? `   ${errors} answers not 200!` : ""),
      );
      if (name === "podindex") perLookup[n] = cpuUs;
    }
    const p = rates["podindex"];
    const ratio = (yard: string) => (p && rates[yard] ? (p / rates[yard]).toFixed(2) : "-");
    console.log(
      `lookups/s: podindex / hand-written ${ratio("hand-written node:http")}, podindex / constant Fastify ${ratio("constant Fastify route")}`,
    );
  }
  const [small, large] = [perLookup[sizes[0]], perLookup[sizes[sizes.length - 1]]];
  if (sizes.length > 1 && small && large)
    console.log(
      `\npodindex CPU per lookup, ${sizes[sizes.length - 1]} ÷ ${sizes[0]} pods: ${(large / small).toFixed(2)}`,
    );
}

if (process.env.LOOKUP_PROFILE_CLIENT === "1") {
  process.once("message", (opts: Parameters<typeof drive>[0]) => {
    drive(opts).then(
      result => process.send!({ result }),
      (err: Error) => process.send!({ error: err.message }),
    );
  });
} else if (require.main === module) {
  main().catch(err => {
    console.error(err);
    process.exit(1);
  });
}
