import { KubeConfig } from "@kubernetes/client-node";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PodCache } from "../../src/cache/pod-cache";
import type { PodLike } from "../../src/cache/pod-record";
import { isOlder } from "../../src/cache/resource-version";
import { EndpointCache } from "../../src/endpoints/endpoint-cache";
import type { SliceLike } from "../../src/endpoints/slice-record";
import type { FeedPhase } from "../../src/feed/object-feed";
import { PagedFeed } from "../../src/feed/paged-feed";
import { startApiServer, type FaultRule, type KObject, type SimulatedApiServer } from "../apiserver/server";

/**
 * A seeded property test: random pod and EndpointSlice churn against the simulated apiserver,
 * interleaved with every fault it can inject, through a real PagedFeed into a real PodCache and
 * EndpointCache wired as src/app.ts wires them. Reproduce a run with CHAOS_SEED (and CHAOS_RUNS).
 */
const RUNS = Number(process.env.CHAOS_RUNS ?? 40);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

const NAMESPACES = ["a", "b"] as const;
const IPS = Array.from({ length: 6 }, (_, i) => `10.1.0.${i + 1}`);
const SERVICES = ["web", "api"] as const;
const SERVICE_LABEL = "kubernetes.io/service-name";
const TERMINAL = new Set(["Succeeded", "Failed"]);
const PODS = "/v1/pods";
const SLICES = "discovery.k8s.io/v1/endpointslices";

type Op =
  | { op: "create"; ns: string; name: string; ip: string | null }
  | { op: "ip"; pick: number; ip: string }
  | { op: "relabel"; pick: number; app: string }
  | { op: "finish"; pick: number; phase: string }
  | { op: "delete"; pick: number; graceful: boolean }
  | { op: "slice"; ns: string; service: string; name: string; endpoints: { pick: number; ready: boolean }[] }
  | { op: "sliceRelabel"; pick: number; service: string | null }
  | { op: "sliceDelete"; pick: number }
  | { op: "fault"; rule: FaultRule }
  | { op: "compact" }
  | { op: "dropWatches" }
  | { op: "pause"; ms: number };

// --- the generated churn -------------------------------------------------------------------------

const ns = fc.constantFrom(...NAMESPACES);
const ip = fc.constantFrom(...IPS);
const pick = fc.nat({ max: 1000 });
const resource = fc.constantFrom(undefined, "pods", "endpointslices");
const times = fc.integer({ min: 1, max: 3 });
/** faults that act on any request kind; 429/503 wait their Retry-After (1 s), so they hit once */
const anyAction = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(410, 500).map(code => ({ type: "status" as const, code })) },
  { weight: 2, arbitrary: fc.constant({ type: "reset" as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 150 }).map(ms => ({ type: "delay" as const, ms })) },
  { weight: 1, arbitrary: fc.constant({ type: "stall" as const }) },
);
const watchAction = fc.oneof(
  fc.constant({ type: "endAtOnce" as const }),
  fc.record({
    type: fc.constant("cutAfter" as const),
    events: fc.integer({ min: 0, max: 4 }),
    midLine: fc.boolean(),
    reset: fc.boolean(),
  }),
  fc.record({ type: fc.constant("stall" as const), afterEvents: fc.integer({ min: 0, max: 3 }) }),
);
const faultRule: fc.Arbitrary<FaultRule> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ resource, on: fc.constant("watch" as const), action: watchAction, times }) },
  {
    weight: 4,
    arbitrary: fc.record({
      resource,
      on: fc.subarray(["list", "continue", "watch"] as const, { minLength: 1 }),
      action: anyAction,
      times,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      resource,
      on: fc.subarray(["list", "continue", "watch"] as const, { minLength: 1 }),
      action: fc.constantFrom(429, 503).map(code => ({ type: "status" as const, code, retryAfterSeconds: 1 })),
      times: fc.constant(1),
    }),
  },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("create" as const),
      ns,
      name: fc.integer({ min: 0, max: 5 }).map(i => `p${i}`),
      ip: fc.option(ip, { nil: null }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("ip" as const), pick, ip }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("relabel" as const), pick, app: fc.constantFrom("x", "y") }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("finish" as const), pick, phase: fc.constantFrom("Succeeded", "Failed") }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delete" as const), pick, graceful: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("slice" as const),
      ns,
      service: fc.constantFrom(...SERVICES),
      name: fc.integer({ min: 0, max: 2 }).map(i => `s${i}`),
      endpoints: fc.array(fc.record({ pick, ready: fc.boolean() }), { maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("sliceRelabel" as const),
      pick,
      service: fc.option(fc.constantFrom(...SERVICES), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("sliceDelete" as const), pick }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("fault" as const), rule: faultRule }) },
  { weight: 1, arbitrary: fc.constant({ op: "compact" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "dropWatches" as const }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("pause" as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);
const scenario = fc.record({
  /** written before the feeds start: what the first (paged) list finds */
  before: fc.array(op, { maxLength: 12 }),
  during: fc.array(op, { minLength: 15, maxLength: 50 }),
});

// --- what the apiserver did, as the model to check the index against ---------------------------

/** every state the apiserver ever gave an object, by uid and resourceVersion, and what was deleted */
class History {
  readonly states = new Map<string, Map<string, KObject>>();
  readonly deleted = new Set<string>();

  record(type: string, object: KObject): void {
    const uid = object.metadata.uid;
    const byRv = this.states.get(uid) ?? new Map<string, KObject>();
    byRv.set(object.metadata.resourceVersion, object);
    this.states.set(uid, byRv);
    if (type === "DELETED") this.deleted.add(uid);
  }

  state(uid: string, rv: string): KObject | undefined {
    return this.states.get(uid)?.get(rv);
  }
}

const ipsOf = (pod: KObject): string[] =>
  pod.status?.podIPs?.length
    ? pod.status.podIPs.map((p: KObject) => p.ip)
    : pod.status?.podIP
      ? [pod.status.podIP]
      : [];
const owns = (pod: KObject) => !pod.spec?.hostNetwork && !TERMINAL.has(pod.status?.phase ?? "");

/** what the cases went through, summed: printed at the end, to show the faults did hit */
const stats = { cases: 0, events: 0, failures: 0, lists: 0, watches: 0 };

// --- one case -------------------------------------------------------------------------------------

interface Case {
  sim: SimulatedApiServer;
  pods: PodCache;
  endpoints: EndpointCache;
  violations: string[];
  log: string[];
}

async function runCase(before: Op[], during: Op[]): Promise<void> {
  const sim = await startApiServer({ bookmarkIntervalMs: 100, historyLimit: 150, kubeletDeleteDelayMs: 30 });
  const history = { pods: new History(), slices: new History() };
  const unsubscribe = sim.store.subscribe(ev => {
    if (ev.resource === PODS) history.pods.record(ev.type, ev.object);
    if (ev.resource === SLICES) history.slices.record(ev.type, ev.object);
  });
  const c: Case = { sim, pods: new PodCache(), endpoints: new EndpointCache(), violations: [], log: [] };
  const violation = (what: string) => {
    if (c.violations.length < 20) c.violations.push(`${what} (after: ${c.log.slice(-4).join("; ")})`);
  };
  const deliveredDeletes = new Set<string>();

  /** at no moment: a pod whose deletion was delivered, a state the apiserver never had, or a pod that never held the IP */
  const checkLookup = (address: string) => {
    const r = c.pods.lookupIp(address);
    const found = r.result === "hit" ? [r.pod] : r.result === "conflict" ? r.pods : [];
    for (const rec of found) {
      const state = history.pods.state(rec.uid, rec.resourceVersion);
      if (deliveredDeletes.has(rec.uid))
        violation(`lookup ${address} returned ${rec.name} after its deletion was delivered`);
      else if (!state) violation(`lookup ${address} returned ${rec.name}@${rec.resourceVersion}, a state never served`);
      else if (!ipsOf(state).includes(address) || !owns(state))
        violation(`lookup ${address} returned ${rec.name}@${rec.resourceVersion}, which did not own that IP`);
    }
  };
  c.pods.onChange((prev, next) => {
    if (prev && next && isOlder(next.resourceVersion, prev.resourceVersion))
      violation(`${next.name} went back from ${prev.resourceVersion} to ${next.resourceVersion}`);
    for (const address of new Set([...(prev?.podIPs ?? []), ...(next?.podIPs ?? [])])) checkLookup(address);
  });

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(sim.kubeconfigPath);
  const tuning = {
    pageSize: 3,
    watchSeconds: 2,
    idleTimeoutMs: 400,
    requestTimeoutMs: 1500,
    minWatchMs: 50,
    backoff: { initialMs: 5, maxMs: 100 },
    kubeConfig,
  };
  const podFeed = new PagedFeed<PodLike>({ ...tuning, path: "/api/v1/pods" });
  const sliceFeed = new PagedFeed<SliceLike>({ ...tuning, path: "/apis/discovery.k8s.io/v1/endpointslices" });
  /** a delivered change must be one the apiserver made: a real state, a deletion that happened */
  const checked =
    (kind: string, h: History, apply: (phase: FeedPhase, o: KObject) => void) => (phase: FeedPhase, o: KObject) => {
      const { uid, name, resourceVersion } = o.metadata;
      if (phase === "DELETED" && !h.deleted.has(uid)) violation(`${kind} ${name}: DELETED delivered, still served`);
      if (phase !== "DELETED" && !h.state(uid, resourceVersion))
        violation(`${kind} ${name}@${resourceVersion}: a state never served`);
      apply(phase, o);
    };
  let events = 0;
  let failures = 0;
  const handlers = <T>(apply: (phase: FeedPhase, o: T) => void) => ({
    onEvent: (phase: FeedPhase, o: T) => (events++, apply(phase, o)),
    onSynced: () => {},
    onError: (err: unknown) => {
      failures++;
      c.log.push(`feed error: ${err instanceof Error ? err.message : String(err)}`);
    },
  });
  try {
    await seed(c, before);
    await podFeed.start(
      handlers<PodLike>(
        checked("pod", history.pods, (phase, pod) => {
          if (phase === "DELETED") {
            deliveredDeletes.add(pod.metadata.uid);
            c.pods.remove(pod);
          } else c.pods.upsert(pod);
        }),
      ),
    );
    await sliceFeed.start(
      handlers<SliceLike>(
        checked("slice", history.slices, (phase, slice) =>
          phase === "DELETED" ? c.endpoints.remove(slice) : c.endpoints.upsert(slice),
        ),
      ),
    );
    for (const o of during) {
      await apply(c, o);
      for (const address of IPS) checkLookup(address);
    }
    c.log.push("settle");
    sim.faults.clear();
    try {
      await settled(c);
    } catch (err) {
      const t0 = sim.requests[0]?.at ?? 0;
      const recent = sim.requests.slice(-12).map(r => `${r.at - t0} ms ${r.method} ${r.path}`);
      console.log(
        `chaos: not settled; last requests:\n${recent.join("\n")}\nlast steps:\n${c.log.slice(-12).join("\n")}`,
      );
      throw err;
    } finally {
      expect(c.violations).toEqual([]); // the more telling failure, if there is one
    }
  } finally {
    stats.cases++;
    stats.events += events;
    stats.failures += failures;
    stats.lists += sim.requests.filter(r => r.method === "GET" && !/[?&]watch=/.test(r.path)).length;
    stats.watches += sim.requests.filter(r => /[?&]watch=/.test(r.path)).length;
    podFeed.stop();
    sliceFeed.stop();
    unsubscribe();
    await sim.close();
  }
}

async function seed(c: Case, before: Op[]): Promise<void> {
  for (const name of NAMESPACES) c.sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  // faults armed now hit the first (paged) list and watch
  for (const o of before) if (o.op !== "pause" && o.op !== "dropWatches") await apply(c, o);
}

const pods = (sim: SimulatedApiServer) => sim.list("v1", "Pod");
const slices = (sim: SimulatedApiServer) => sim.list("discovery.k8s.io/v1", "EndpointSlice");
const nth = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);

/** One step of churn, as controllers, the kubelet and an operator would make it, over HTTP. */
async function apply(c: Case, o: Op): Promise<void> {
  const { sim } = c;
  const call = (method: string, path: string, body?: unknown, type = "application/merge-patch+json") =>
    fetch(sim.url + path, {
      method,
      headers: body === undefined ? {} : { "content-type": method === "POST" ? "application/json" : type },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(r => r.text());
  const podPath = (p: KObject) => `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`;
  const slicePath = (s: KObject) =>
    `/apis/discovery.k8s.io/v1/namespaces/${s.metadata.namespace}/endpointslices/${s.metadata.name}`;
  const running = (address: string) => ({ status: { phase: "Running", podIP: address, podIPs: [{ ip: address }] } });
  c.log.push(JSON.stringify(o));
  switch (o.op) {
    case "create": {
      const body = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: o.name, namespace: o.ns, labels: { app: "x" } },
        spec: { nodeName: "node-a", containers: [{ name: "c", image: "nginx" }] },
      };
      await call("POST", `/api/v1/namespaces/${o.ns}/pods`, body);
      if (o.ip) await call("PATCH", `${podPath(body)}/status`, running(o.ip));
      return;
    }
    case "ip":
    case "relabel":
    case "finish":
    case "delete": {
      const p = nth(pods(sim), o.pick);
      if (!p) return;
      if (o.op === "ip") await call("PATCH", `${podPath(p)}/status`, running(o.ip));
      if (o.op === "relabel") await call("PATCH", podPath(p), { metadata: { labels: { app: o.app } } });
      if (o.op === "finish") await call("PATCH", `${podPath(p)}/status`, { status: { phase: o.phase } });
      if (o.op === "delete") await call("DELETE", `${podPath(p)}${o.graceful ? "" : "?gracePeriodSeconds=0"}`);
      return;
    }
    case "slice": {
      const all = pods(sim);
      const endpoints = o.endpoints.flatMap(e => {
        const p = nth(all, e.pick);
        const address = p && ipsOf(p)[0];
        if (!p || !address) return [];
        return [
          {
            addresses: [address],
            conditions: { ready: e.ready },
            targetRef: { kind: "Pod", name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid },
          },
        ];
      });
      const name = `${o.service}-${o.name}`;
      const path = `/apis/discovery.k8s.io/v1/namespaces/${o.ns}/endpointslices`;
      if (sim.get("discovery.k8s.io/v1", "EndpointSlice", name, o.ns))
        await call("PATCH", `${path}/${name}`, { endpoints });
      else
        await call("POST", path, {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { name, namespace: o.ns, labels: { [SERVICE_LABEL]: o.service } },
          addressType: "IPv4",
          endpoints,
          ports: [{ name: "http", port: 80, protocol: "TCP" }],
        });
      return;
    }
    case "sliceRelabel":
    case "sliceDelete": {
      const s = nth(slices(sim), o.pick);
      if (!s) return;
      if (o.op === "sliceDelete") await call("DELETE", slicePath(s));
      else await call("PATCH", slicePath(s), { metadata: { labels: { [SERVICE_LABEL]: o.service } } });
      return;
    }
    case "fault":
      sim.faults.add(o.rule);
      return;
    case "compact":
      sim.compact();
      return;
    case "dropWatches":
      sim.dropWatches();
      return;
    case "pause":
      await new Promise(r => setTimeout(r, o.ms));
      return;
  }
}

// --- settled: the index equals the apiserver's truth ------------------------------------------------

function truth(sim: SimulatedApiServer) {
  const all = pods(sim);
  const bySvc = new Map<string, KObject[]>();
  for (const s of slices(sim)) {
    const svc = s.metadata.labels?.[SERVICE_LABEL];
    if (svc) bySvc.set(`${s.metadata.namespace}/${svc}`, [...(bySvc.get(`${s.metadata.namespace}/${svc}`) ?? []), s]);
  }
  const podServices = new Map<string, string[]>();
  for (const [svc, list] of bySvc)
    for (const s of list)
      for (const e of s.endpoints ?? [])
        podServices.set(e.targetRef.uid, [...(podServices.get(e.targetRef.uid) ?? []), svc]);
  return {
    pods: all
      .map(p => ({
        uid: p.metadata.uid,
        name: `${p.metadata.namespace}/${p.metadata.name}`,
        rv: p.metadata.resourceVersion,
        ips: ipsOf(p),
        phase: p.status?.phase ?? "Unknown",
        labels: p.metadata.labels ?? {},
        deleting: !!p.metadata.deletionTimestamp,
      }))
      .sort((a, b) => a.uid.localeCompare(b.uid)),
    owners: Object.fromEntries(
      IPS.map(address => [
        address,
        all
          .filter(p => owns(p) && ipsOf(p).includes(address))
          .map(p => p.metadata.uid)
          .sort(),
      ]),
    ),
    services: Object.fromEntries(
      [...bySvc].sort().map(([svc, list]) => [
        svc,
        list
          .map(s => ({
            slice: s.metadata.name,
            rv: s.metadata.resourceVersion,
            endpoints: (s.endpoints ?? []).map((e: KObject) => [e.addresses[0], e.conditions.ready, e.targetRef.uid]),
          }))
          .sort((a, b) => a.slice.localeCompare(b.slice)),
      ]),
    ),
    podServices: Object.fromEntries([...podServices].sort().map(([uid, svcs]) => [uid, [...new Set(svcs)].sort()])),
  };
}

function index(c: Case, uidsInSlices: string[]) {
  const found = (address: string) => {
    const r = c.pods.lookupIp(address);
    return (r.result === "hit" ? [r.pod] : r.result === "conflict" ? r.pods : []).map(p => p.uid).sort();
  };
  const svcs = c.endpoints
    .services()
    .map(s => `${s.namespace}/${s.name}`)
    .sort();
  return {
    pods: [...c.pods.values()]
      .map(p => ({
        uid: p.uid,
        name: `${p.namespace}/${p.name}`,
        rv: p.resourceVersion,
        ips: [...p.podIPs],
        phase: p.phase,
        labels: p.labels,
        deleting: !!p.deletionTimestamp,
      }))
      .sort((a, b) => a.uid.localeCompare(b.uid)),
    owners: Object.fromEntries(IPS.map(address => [address, found(address)])),
    services: Object.fromEntries(
      svcs.map(svc => {
        const [namespace, name] = svc.split("/");
        const list = c.endpoints.slices(namespace, name);
        return [
          svc,
          list.map(s => ({
            slice: s.name,
            rv: s.resourceVersion,
            endpoints: s.endpoints.map(e => [e.addresses[0], e.ready, e.pod?.uid]),
          })),
        ];
      }),
    ),
    podServices: Object.fromEntries(
      uidsInSlices.sort().map(uid => [
        uid,
        c.endpoints
          .servicesOfPod(uid)
          .map(s => `${s.namespace}/${s.name}`)
          .sort(),
      ]),
    ),
  };
}

async function settled(c: Case): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const want = truth(c.sim);
    const have = index(c, Object.keys(want.podServices));
    try {
      expect(have).toEqual(want);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise(r => setTimeout(r, 20));
    }
  }
}

describe("chaos: the index under churn and apiserver faults", () => {
  it(
    "converges to the apiserver's truth, and never answers with a deleted pod or one that never held the IP",
    async () => {
      console.log(`chaos: ${RUNS} cases, seed ${SEED}`);
      await fc.assert(
        fc.asyncProperty(scenario, ({ before, during }) => runCase(before, during)),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      console.log(
        `chaos: ${stats.cases} cases, seed ${SEED}: ${stats.events} events delivered, ${stats.failures} feed failures, ` +
          `${stats.lists} list pages and ${stats.watches} watches served`,
      );
    },
    RUNS * 15_000,
  );
});
