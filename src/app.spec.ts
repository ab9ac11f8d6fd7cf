import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { makePod } from "../test/support/pods";
import { PodIndexApp } from "./app";
import type { FeedHandlers, ObjectFeed } from "./feed/object-feed";
import { TrustedProxies } from "./forward-auth/client-ip";
import { PodIndex, type PodIndexSpec } from "./kinds/podindex";

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
