import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { FlipLeadership } from "../test/support/leadership";
import { makePod } from "../test/support/pods";
import { eventually } from "../test/support/module";
import { PodIndexApp, type AppDeps } from "./app";
import type { PodLike } from "./cache/pod-record";
import type { SliceLike } from "./endpoints/slice-record";
import type { FeedHandlers, ObjectFeed } from "./feed/object-feed";
import { TrustedProxies } from "./forward-auth/client-ip";
import { PodIndex, type PodIndexSpec, type PodIndexStatus } from "./kinds/podindex";

const podIndex = (uid: string, generation: number, spec: PodIndexSpec) =>
  Object.assign(new PodIndex(), { metadata: { name: "web", uid, generation }, spec });

/** The app's handling of PodIndex events (start() and the pod feed are covered by test/integration). */
describe("PodIndexApp PodIndex events", () => {
  const app = () =>
    new PodIndexApp({
      log: pino({ level: "silent" }),
      podFeed: () => {
        throw new Error("no pod feed in this test");
      },
      sliceFeed: () => {
        throw new Error("no EndpointSlice feed in this test");
      },
      listPodIndexes: async () => ({ items: [], resourceVersion: "1" }),
      writeStatus: async () => {},
      readSecret: async () => ({}),
      emitEvent: async () => {},
    });
  const served = (a: PodIndexApp, namespace: string) => a.views.isServed(a.cache.upsert(makePod({ namespace }))!);

  it("applies a new generation, and a PodIndex recreated under the same name even at the same generation", () => {
    const a = app();
    a.applyPodIndex(podIndex("uid-1", 1, { namespaces: ["apps"] }));
    expect(served(a, "apps")).toBe(true);
    a.applyPodIndex(podIndex("uid-1", 2, { namespaces: ["batch"] }));
    expect(served(a, "apps")).toBe(false);
    a.applyPodIndex(podIndex("uid-2", 2, { namespaces: ["apps"] }));
    expect(served(a, "apps")).toBe(true);
  });

  it("ignores a late DELETED of an older PodIndex that had the same name", () => {
    const a = app();
    a.applyPodIndex(podIndex("uid-2", 1, { namespaces: ["apps"] }));
    a.removePodIndex(podIndex("uid-1", 3, {}));
    expect(served(a, "apps")).toBe(true);
    a.removePodIndex(podIndex("uid-2", 1, {}));
    expect(served(a, "apps")).toBe(false);
  });

  it("stops serving a PodIndex whose new spec is invalid (fails closed), while others keep working", () => {
    const a = app();
    a.applyPodIndex(podIndex("uid-1", 1, { namespaces: ["apps"] }));
    a.applyPodIndex(
      Object.assign(new PodIndex(), {
        metadata: { name: "other", uid: "uid-9", generation: 1 },
        spec: { namespaces: ["batch"] },
      }),
    );
    a.applyPodIndex(podIndex("uid-1", 2, { podSelector: { matchLabels: { "bad key!": "x" } } }));
    expect(served(a, "apps")).toBe(false);
    expect(served(a, "batch")).toBe(true);
  });

  it("replaces the whole set on a resync: vanished PodIndexes, valid or not, are forgotten", () => {
    const a = app();
    a.applyPodIndex(podIndex("uid-1", 1, { namespaces: ["apps"] }));
    a.applyPodIndex(
      Object.assign(new PodIndex(), {
        metadata: { name: "broken", uid: "uid-3", generation: 1 },
        spec: { namespaces: ["Bad"] },
      }),
    );
    expect(a.status.names().sort()).toEqual(["broken", "web"]);
    a.syncPodIndexes({ items: [], resourceVersion: "100" });
    expect(a.views.size).toBe(0);
    expect(a.status.names()).toEqual([]);
  });
});

/** A feed the test drives by hand: it hands the app's handlers over and records being stopped. */
class HandFeed<T> implements ObjectFeed<T> {
  handlers: FeedHandlers<T> | undefined;
  stopped = false;
  async start(h: FeedHandlers<T>): Promise<void> {
    this.handlers = h;
  }
  stop(): void {
    this.stopped = true;
  }
}

/** start() with hand-driven feeds and a fake clock; its server listens on a free loopback port. */
describe("PodIndexApp feeds, readiness and staleness", () => {
  let running: PodIndexApp | undefined;
  afterEach(() => running?.stop());

  async function started(more: Partial<AppDeps> = {}) {
    const clock = { t: 1_700_000_000_000 };
    const podFeeds: HandFeed<PodLike>[] = [];
    const sliceFeed = new HandFeed<SliceLike>();
    const writes: { name: string; status: PodIndexStatus }[] = [];
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const app = new PodIndexApp({
      log: pino({ level: "info" }, sink),
      podFeed: () => {
        podFeeds.push(new HandFeed<PodLike>());
        return podFeeds.at(-1)!;
      },
      sliceFeed: () => sliceFeed,
      listPodIndexes: async () => ({ items: [podIndex("uid-1", 1, { namespaces: ["apps"] })], resourceVersion: "1" }),
      writeStatus: async (name, status) => void writes.push({ name, status }),
      readSecret: async () => ({}),
      emitEvent: async () => {},
      now: () => clock.t,
      ...more,
    });
    running = app;
    await app.start({
      port: 0,
      host: "127.0.0.1",
      resyncSeconds: 300,
      statusIntervalMs: 100,
      trustedProxies: TrustedProxies.none(),
      maxStalenessSeconds: 300,
    });
    return { app, clock, podFeeds, sliceFeed, writes, logs };
  }
  const pod = () => makePod({ namespace: "apps", ips: ["10.42.0.10"], annotations: { team: "storefront" } });

  it("becomes ready when the pod feed restarts (a newly exposed annotation) before its first list is in", async () => {
    const { app, podFeeds, sliceFeed } = await started();
    sliceFeed.handlers!.onSynced();
    expect(app.readiness.waitingFor).toEqual(["pods"]);
    app.applyPodIndex(podIndex("uid-1", 2, { namespaces: ["apps"], expose: { annotations: ["team"] } }));
    expect(podFeeds).toHaveLength(2);
    expect(podFeeds[0].stopped).toBe(true);
    podFeeds[1].handlers!.onEvent("ADDED", pod());
    podFeeds[1].handlers!.onSynced();
    expect(app.readiness.ready).toBe(true);
    const found = app.lookup.byIp("10.42.0.10");
    expect(found.kind === "hit" && found.pod.annotations).toEqual({ team: "storefront" });
  });

  it("measures each kind's staleness from the feed's onFresh, and refuses identity answers past the bound", async () => {
    const { app, clock, podFeeds, sliceFeed } = await started();
    podFeeds[0].handlers!.onEvent("ADDED", pod());
    podFeeds[0].handlers!.onSynced();
    sliceFeed.handlers!.onSynced();
    clock.t += 250_000;
    podFeeds[0].handlers!.onFresh!(); // e.g. a bookmark
    clock.t += 60_000;
    expect(app.readiness.staleness("pods")).toBe(60_000);
    expect(app.readiness.staleness("endpointslices")).toBe(310_000);
    // the PodIndexes were last listed at start(): 310 s ago
    expect(app.lookup.byIp("10.42.0.10")).toMatchObject({
      kind: "stale",
      stale: [{ kind: "podindexes", seconds: 310 }],
    });
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toContain('podindex_staleness_seconds{kind="pods"} 60');
    expect(metrics).toContain('podindex_staleness_seconds{kind="endpointslices"} 310');
    expect(metrics).toContain("podindex_max_staleness_seconds 300");
  });

  it("says in the Degraded condition which caches are past the bound, and writes it without any event", async () => {
    const { app, clock, podFeeds, sliceFeed, writes } = await started();
    podFeeds[0].handlers!.onSynced();
    sliceFeed.handlers!.onSynced();
    const degraded = () =>
      app.status
        .snapshot()
        .get("web")!
        .conditions!.find(c => c.type === "Degraded")!;
    expect(degraded()).toMatchObject({ status: "False" });
    clock.t += 301_000;
    expect(degraded()).toMatchObject({
      status: "True",
      message:
        "the cache of podindexes, pods, endpointslices is older than PODINDEX_MAX_STALENESS (300 s): " +
        "IP and UID lookups and forward-auth answer 503 Stale",
    });
    // the app notices the bound passing by itself (a timer, not a feed event) and writes the status
    await eventually(() =>
      expect(writes.at(-1)?.status.conditions?.find(c => c.type === "Degraded")).toMatchObject({ status: "True" }),
    );
    // fresh again (the PodIndex side proves its kind fresh through markFresh): Degraded clears by itself
    podFeeds[0].handlers!.onFresh!();
    sliceFeed.handlers!.onFresh!();
    app.readiness.markFresh("podindexes");
    await eventually(() =>
      expect(writes.at(-1)?.status.conditions?.find(c => c.type === "Degraded")).toMatchObject({ status: "False" }),
    );
  });

  it("counts and logs an object a feed had to skip", async () => {
    const { app, podFeeds, logs } = await started();
    const bad = makePod({ name: "odd", namespace: "apps" });
    podFeeds[0].handlers!.onSkipped!("MODIFIED", bad, new Error("cannot index it"));
    expect(await app.metrics.registry.metrics()).toContain('podindex_watch_skipped_total{kind="pods"} 1');
    expect(logs.find(l => l.msg === "could not apply a watched object; skipped it")).toMatchObject({
      level: 40,
      kind: "pods",
      phase: "MODIFIED",
      namespace: "apps",
      name: "odd",
      err: { message: "cannot index it" },
    });
  });
});

/** Every replica serves; only the one that leads writes status and Events. */
describe("PodIndexApp leadership", () => {
  let running: PodIndexApp | undefined;
  afterEach(() => running?.stop());
  const ok = (name: string, uid: string, namespace: string) =>
    Object.assign(new PodIndex(), { metadata: { name, uid, generation: 1 }, spec: { namespaces: [namespace] } });
  const broken = (generation: number) =>
    Object.assign(new PodIndex(), {
      metadata: { name: "broken", uid: "uid-b", generation },
      spec: { namespaces: [`Bad${generation}`] },
    });
  /** longer than a few status intervals: what would be written is written by then */
  const quiet = () => new Promise(r => setTimeout(r, 300));

  async function follower() {
    const writes: { name: string; status: PodIndexStatus }[] = [];
    const events: string[] = [];
    const podFeed = new HandFeed<PodLike>();
    const sliceFeed = new HandFeed<SliceLike>();
    const leadership = new FlipLeadership();
    const app = new PodIndexApp({
      log: pino({ level: "silent" }),
      podFeed: () => podFeed,
      sliceFeed: () => sliceFeed,
      listPodIndexes: async () => ({
        items: [ok("web", "uid-1", "apps"), ok("quiet", "uid-2", "batch"), broken(1)],
        resourceVersion: "1",
      }),
      writeStatus: async (name, status) => void writes.push({ name, status }),
      readSecret: async () => ({}),
      emitEvent: async (subject, e) => void events.push(`${subject.name} ${e.reason}`),
      leadership,
    });
    running = app;
    const { port } = await app.start({
      port: 0,
      host: "127.0.0.1",
      resyncSeconds: 300,
      statusIntervalMs: 20,
      trustedProxies: TrustedProxies.none(),
    });
    podFeed.handlers!.onEvent("ADDED", makePod({ name: "web-1", namespace: "apps", ips: ["10.42.0.10"] }));
    podFeed.handlers!.onSynced();
    sliceFeed.handlers!.onSynced();
    const readyz = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    return { app, leadership, readyz, writes, events, podFeed };
  }

  it("as a follower answers lookups and /readyz but writes no status and emits no Event", async () => {
    const { app, readyz, writes, events, podFeed } = await follower();
    expect(app.leading).toBe(false);
    expect(app.lookup.byIp("10.42.0.10")).toMatchObject({ kind: "hit" });
    expect(await readyz()).toBe(200);
    app.applyPodIndex(broken(2));
    podFeed.handlers!.onEvent("ADDED", makePod({ name: "web-2", namespace: "apps", ips: ["10.42.0.11"] }));
    await quiet();
    expect(writes).toEqual([]);
    expect(events).toEqual([]);
    // the status is still computed here (GET /v1/indexes answers on every replica)
    expect(app.status.snapshot().get("web")).toMatchObject({ pods: 2 });
  });

  it("on becoming leader writes every PodIndex's whole status, then Events; on losing it stops both, lookups unchanged", async () => {
    const { app, leadership, readyz, writes, events, podFeed } = await follower();
    leadership.set(true);
    await eventually(() => expect(writes.map(w => w.name).sort()).toEqual(["broken", "quiet", "web"]));
    expect(app.leading).toBe(true);
    expect(writes.find(w => w.name === "web")!.status).toMatchObject({ observedGeneration: 1, pods: 1 });
    app.applyPodIndex(broken(2));
    await eventually(() => expect(events).toEqual(["broken InvalidNamespace"]));
    await eventually(() => expect(writes.filter(w => w.name === "broken")).toHaveLength(2));

    leadership.set(false);
    await eventually(() => expect(app.leading).toBe(false));
    const written = writes.length;
    app.applyPodIndex(broken(3));
    podFeed.handlers!.onEvent("ADDED", makePod({ name: "web-2", namespace: "apps", ips: ["10.42.0.11"] }));
    await quiet();
    expect(writes).toHaveLength(written);
    expect(events).toEqual(["broken InvalidNamespace"]);
    expect(app.lookup.byIp("10.42.0.11")).toMatchObject({ kind: "hit" });
    expect(await readyz()).toBe(200);

    // leading again: every status is written whole, also quiet's, unchanged here (another leader may have written since)
    leadership.set(true);
    await eventually(() =>
      expect(
        writes
          .slice(written)
          .map(w => w.name)
          .sort(),
      ).toEqual(["broken", "quiet", "web"]),
    );
    expect(writes.slice(written).find(w => w.name === "web")!.status).toMatchObject({ pods: 2 });
  });
});

/** When start() lists PodIndexes: at start, every resyncSeconds, and as soon as a feed is back. */
describe("PodIndexApp PodIndex lists", () => {
  const feeds: FeedHandlers<never>[] = [];
  const quietFeed = (): ObjectFeed<never> => ({
    start: async handlers => void feeds.push(handlers),
    stop: () => {},
  });
  let lists = 0;
  let app: PodIndexApp;
  const makeApp = () =>
    new PodIndexApp({
      log: pino({ level: "silent" }),
      podFeed: quietFeed,
      sliceFeed: quietFeed,
      listPodIndexes: async () => ({ items: [], resourceVersion: String(++lists) }),
      writeStatus: async () => {},
      readSecret: async () => ({}),
      emitEvent: async () => {},
    });

  beforeAll(async () => {
    // before the app exists: its readiness reads the (fake) clock it finds
    vi.useFakeTimers({ toFake: ["setInterval", "Date"] });
    app = makeApp();
    await app.start({
      port: 0,
      host: "127.0.0.1",
      resyncSeconds: 30,
      statusIntervalMs: 200,
      trustedProxies: TrustedProxies.none(),
    });
  });
  afterAll(async () => {
    await app.stop();
    vi.useRealTimers();
  });

  it("proves a quiet cluster's PodIndex set fresh with a full list every resyncSeconds", async () => {
    expect(lists).toBe(1);
    expect(app.readiness.staleness("podindexes")).toBe(0);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(app.readiness.staleness("podindexes")).toBe(29_000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(lists).toBe(2);
    expect(app.readiness.staleness("podindexes")).toBe(0);
  });

  it("lists PodIndexes as soon as a feed recovers from an apiserver outage", async () => {
    const before = lists;
    await vi.advanceTimersByTimeAsync(5000);
    feeds[0].onRecovered?.();
    await vi.waitFor(() => expect(lists).toBe(before + 1));
    expect(app.readiness.staleness("podindexes")).toBe(0);
  });
});
