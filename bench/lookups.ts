/**
 * npm run bench: how podindex's in-memory index behaves at scale. Prints figures; asserts nothing.
 *
 * Builds 100 000 pods (BENCH_PODS) in 1 000 namespaces with realistic labels, three PodIndexes and
 * 10 000 Services' EndpointSlices, then measures: cache load rate and heap per pod, in-process
 * lookups and forward-auth decisions, and HTTP round trips over loopback (keep-alive, one client).
 */
import { Agent, request } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { makePod } from "../test/support/pods";
import { makeSlice } from "../test/support/slices";
import { testServer } from "../test/support/server";
import { TrustedProxies } from "../src/forward-auth/client-ip";

const PODS = Number(process.env.BENCH_PODS ?? 100_000);
const NAMESPACES = 1000;
const SERVICES = 10_000;

const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function percentiles(samples: number[]): string {
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))];
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  return `p50 ${us(at(0.5))}  p99 ${us(at(0.99))}  max ${us(samples[samples.length - 1])}`;
}

function timeOps(label: string, n: number, op: (i: number) => void): void {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) op(i);
  const ms = performance.now() - t0;
  console.log(`${label.padEnd(44)} ${((ms * 1e6) / n).toFixed(0).padStart(6)} ns/op   (${n} ops)`);
}

async function httpLatency(
  port: number,
  path: (i: number) => string,
  n: number,
  headers: (i: number) => Record<string, string> = () => ({}),
) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: path(i), agent, headers: headers(i) }, res => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
    samples.push(performance.now() - t0);
  }
  agent.destroy();
  return percentiles(samples);
}

async function main(): Promise<void> {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `team-${i}`);
  const server = testServer(
    {
      all: { expose: { labels: ["app", "tier"] }, services: {} },
      half: { namespaces: namespaces.slice(0, NAMESPACES / 2), podSelector: { matchLabels: { tier: "backend" } } },
      fission: { namespaces: namespaces.slice(0, 100), forwardAuth: { allow: [{ namespace: "team-1", from: ["*"] }] } },
    },
    { trustedProxies: TrustedProxies.parse("127.0.0.1") },
  );
  const { cache, endpoints, sync, app } = server;

  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const pods = Array.from({ length: PODS }, (_, i) =>
    makePod({
      name: `app-${i % 97}-7d9f8b6c5d-${i.toString(36)}`,
      namespace: namespaces[i % NAMESPACES],
      labels: {
        app: `app-${i % 97}`,
        tier: i % 2 ? "backend" : "frontend",
        "pod-template-hash": "7d9f8b6c5d",
        "app.kubernetes.io/part-of": "bench",
      },
      ips: [ip(i)],
    }),
  );
  let t0 = performance.now();
  for (const p of pods) cache.upsert(p);
  const loadMs = performance.now() - t0;
  pods.length = 0;
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  console.log(`pods                                         ${PODS}`);
  console.log(`cache load (upserts)                         ${((PODS / loadMs) * 1000).toFixed(0)} pods/s`);
  console.log(
    `heap for the pod cache                       ${mb(heap1 - heap0)} (${((heap1 - heap0) / PODS).toFixed(0)} B/pod${(globalThis as { gc?: unknown }).gc ? "" : ", run with --expose-gc for exact figures"})`,
  );

  t0 = performance.now();
  for (let s = 0; s < SERVICES; s++) {
    const members = Array.from({ length: 10 }, (_, k) => {
      const i = (s * 10 + k) % PODS;
      return { ip: ip(i), pod: `p-${i}`, ready: k !== 0 };
    });
    endpoints.upsert(makeSlice(namespaces[s % NAMESPACES], `svc-${s}`, `svc-${s}-abcde`, members, { uid: `s-${s}` }));
  }
  console.log(
    `EndpointSlice upserts (10 endpoints each)    ${((SERVICES / (performance.now() - t0)) * 1000).toFixed(0)} slices/s`,
  );
  sync();

  const { lookup, forwardAuth } = server;
  timeOps("PodLookup.byIp (hit, all PodIndexes)", 200_000, i => lookup.byIp(ip((i * 7919) % PODS)));
  timeOps("PodLookup.byIp (hit, ?index=half)", 200_000, i => lookup.byIp(ip((i * 7919) % PODS), "half"));
  timeOps("PodLookup.byIp (miss)", 200_000, i => lookup.byIp(`10.200.${(i >> 8) & 255}.${i & 255}`));
  timeOps("ForwardAuth.decide (through a trusted proxy)", 200_000, i =>
    forwardAuth.decide({
      index: "fission",
      peer: "127.0.0.1",
      forwardedFor: ip((i * 1000) % (100 * 1000)),
      target: { namespace: "team-1", name: "fn" },
    }),
  );
  timeOps("ServiceLookup.endpoints", 100_000, i =>
    server.services.endpoints(namespaces[i % NAMESPACES], `svc-${i % SERVICES}`),
  );

  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  console.log(
    `HTTP GET /v1/pods/by-ip/:ip (loopback)       ${await httpLatency(port, i => `/v1/pods/by-ip/${ip((i * 7919) % PODS)}`, 20_000)}`,
  );
  console.log(
    `HTTP GET /v1/forward-auth (loopback)         ${await httpLatency(
      port,
      i => `/v1/forward-auth?index=fission&namespace=team-1&name=fn-${i % 10}`,
      20_000,
      i => ({ "x-forwarded-for": ip((i * 1000) % (100 * 1000)) }),
    )}`,
  );
  await app.close();
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
