import { KubeConfig } from "@kubernetes/client-node";
import { fork } from "node:child_process";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startApiServer, type ApiServerOptions, type SimulatedApiServer } from "../../test/apiserver/server";
import { eventually } from "../../test/support/module";
import { makePod } from "../../test/support/pods";
import type { PodLike } from "../cache/pod-record";
import type { FeedHandlers, FeedPhase } from "./object-feed";
import { PagedFeed, continueOf, podFeed, type PagedFeedOptions, type Tracked } from "./paged-feed";

/**
 * The paged feed against the simulated apiserver (paging, watch, 410, outages and injected faults as
 * kube-apiserver and its network do them), held to client-go's Reflector contract.
 */
describe("PagedFeed", () => {
  let sim: SimulatedApiServer;
  let feed: PagedFeed<Tracked> | undefined;
  let events: string[];
  let errors: unknown[];
  let synced: number;
  let recovered: number;
  let fresh: number;
  let skipped: string[];
  /** what onEvent does besides recording (a test's consumer) */
  let consumer: (phase: FeedPhase, obj: Tracked) => void;

  const pod = (name: string) => ({ apiVersion: "v1", kind: "Pod", ...makePod({ name, namespace: "default" }) });
  const write = (method: string, path: string, body?: unknown) =>
    fetch(sim.url + path, {
      method,
      headers: { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const label = (name: string, app: string) =>
    write("PATCH", `/api/v1/namespaces/default/pods/${name}`, { metadata: { labels: { app } } });
  /** a change that bumps the global resourceVersion without touching a pod */
  const otherWrite = (name: string) =>
    sim.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" } });
  /** small waits so failures are fast; no jitter so gaps are predictable */
  const fast: Partial<PagedFeedOptions> = { backoff: { initialMs: 20, maxMs: 200, random: () => 0 } };
  const start = (opts: Partial<PagedFeedOptions> = {}) => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(sim.kubeconfigPath);
    const f = new PagedFeed<Tracked>({ path: "/api/v1/pods", pageSize: 2, kubeConfig, ...fast, ...opts });
    feed = f;
    const handlers: FeedHandlers<Tracked> = {
      onEvent: (phase, obj) => {
        events.push(`${phase} ${obj.metadata?.name}`);
        consumer(phase, obj);
      },
      onSynced: () => synced++,
      onError: err => errors.push(err),
      onRecovered: () => recovered++,
      onFresh: () => fresh++,
      onSkipped: (phase, obj, err) => skipped.push(`${phase} ${obj.metadata?.name}: ${(err as Error).message}`),
    };
    void f.start(handlers);
    return f;
  };
  const podRequests = () => sim.requests.filter(r => r.path === "/api/v1/pods" || r.path.startsWith("/api/v1/pods?"));
  const lists = () => podRequests().filter(r => !r.path.includes("watch="));
  const watches = () => podRequests().filter(r => r.path.includes("watch="));
  const param = (path: string, name: string) => new URL(path, sim.url).searchParams.get(name);
  const gaps = (rs: { at: number }[]) => rs.slice(1).map((r, i) => r.at - rs[i].at);
  const podRv = (name: string) => sim.get("v1", "Pod", name, "default")!.metadata.resourceVersion as string;

  /** synced, and the watch that follows is open at the server */
  const watching = async () => {
    await eventually(() => expect(synced).toBe(1));
    await eventually(() => expect(watches()).toHaveLength(1));
  };
  const boot = async (opts: ApiServerOptions = {}) => {
    sim = await startApiServer({ historyLimit: 20, ...opts });
    for (const name of ["a", "b", "c", "d", "e"]) sim.create(pod(name));
  };
  beforeEach(async () => {
    events = [];
    errors = [];
    synced = 0;
    recovered = 0;
    fresh = 0;
    skipped = [];
    consumer = () => {};
    feed = undefined;
  });
  afterEach(async () => {
    feed?.stop();
    await sim.close();
  });

  describe("lists and watches", () => {
    beforeEach(() => boot());

    it("asks for the next page before it hands this one over, so the apiserver serves it meanwhile", async () => {
      // the reader in a process of its own, so the simulator answers while the reader is busy
      const child = fork(join(__dirname, "../../test/support/list-reader.ts"), [], {
        execArgv: ["--import", "tsx"],
        env: { ...process.env, KUBECONFIG: sim.kubeconfigPath, PAGE_SIZE: "2", HOLD_MS: "150" },
      });
      const { delivered } = await new Promise<{ delivered: [string, number][] }>((ok, fail) => {
        child.once("message", ok);
        child.once("exit", code => fail(new Error(`the reader exited (${code})`)));
      });
      expect(delivered.map(([name]) => name)).toEqual(["a", "b", "c", "d", "e"]);
      const at = Object.fromEntries(delivered);
      const pages = lists();
      expect(pages.map(r => r.path.includes("continue="))).toEqual([false, true, true]);
      // page 2 (c, d) was asked for before b, the last of page 1, was handed over; page 3 before d
      expect(pages[1].at).toBeLessThan(at.b);
      expect(pages[2].at).toBeLessThan(at.d);
    });

    it("lists in pages, reports every object once, and is synced once the last page is in", async () => {
      start();
      await eventually(() => expect(synced).toBe(1));
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
      expect(lists().map(r => r.path.includes("continue="))).toEqual([false, true, true]);
      expect(fresh).toBe(1); // the completed list proved the cache fresh
    });

    it("hands a burst of watch events over in time slices, the event loop turning in between", async () => {
      // a slice of 0 ms ends after each line: one event per turn of the loop, however fast the machine
      start({ lineSliceMs: 0 });
      await watching();
      let turns = 0;
      let ticking = true;
      const tick = () => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      const perTurn = new Map<number, number>();
      consumer = (_phase, obj) => {
        if ((obj as PodLike).metadata?.labels?.burst) perTurn.set(turns, (perTurn.get(turns) ?? 0) + 1);
      };
      const pods = sim.store.type("", "v1", "pods")!;
      const BURST = 500;
      // written in one go: the watch stream carries them back to back, read in a few big reads
      for (let k = 1; k <= BURST; k++) {
        const change = (o: Tracked) => ({ ...o, metadata: { ...o.metadata, labels: { burst: String(k) } } });
        sim.store.update(pods, "default", "abcde"[k % 5], change, { fieldManager: "t", operation: "Update" });
      }
      setImmediate(tick);
      await eventually(() => expect([...perTurn.values()].reduce((a, b) => a + b, 0)).toBe(BURST));
      ticking = false;
      // handled as the reads hand them over, hundreds of events would share a turn
      expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(2);
    });

    it("hands objects over with managedFields emptied, from lists and watches alike, the rest as served", async () => {
      const got = new Map<string, PodLike>();
      consumer = (_phase, obj) => got.set(obj.metadata!.name!, obj as PodLike);
      start();
      await watching();
      await label("a", "api");
      await eventually(() => expect(got.get("a")?.metadata?.labels).toEqual({ app: "api" }));
      for (const name of ["a", "b"]) {
        // the simulator records managers as kube-apiserver does: the cut is the feed's
        const served = sim.get("v1", "Pod", name, "default")!;
        expect(served.metadata.managedFields.length).toBeGreaterThan(0);
        expect(got.get(name)).toEqual({ ...served, metadata: { ...served.metadata, managedFields: [] } });
      }
    });

    it("feeds pods without the arrays a pod's record never reads: containers, volumes and their statuses", async () => {
      const containers = [{ name: "main", image: "registry.example/app:1.0", env: [{ name: "A", value: "]" }] }];
      const volumes = [{ name: "data", emptyDir: {} }];
      const full = pod("k");
      sim.create({ ...full, spec: { ...full.spec, containers, volumes } });
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(sim.kubeconfigPath);
      const pods = podFeed({ kubeConfig, pageSize: 2 });
      feed = pods;
      const got = new Map<string, PodLike>();
      void pods.start({
        onEvent: (_phase, p) => got.set(p.metadata!.name!, p),
        onSynced: () => synced++,
        onError: err => errors.push(err),
      });
      await eventually(() => expect(synced).toBe(1));
      const served = sim.get("v1", "Pod", "k", "default")!;
      expect(served.spec.containers).toEqual(containers);
      const k = got.get("k") as typeof served;
      expect(k.spec).toEqual({ ...served.spec, containers: [], volumes: [] });
      expect(k.status).toEqual(served.status);
      expect(k.metadata.labels).toEqual(served.metadata.labels);
    });

    it("then follows the watch: created, changed and deleted objects, each proving the cache fresh", async () => {
      start();
      await eventually(() => expect(synced).toBe(1));
      events.length = 0;
      await write("POST", "/api/v1/namespaces/default/pods", pod("f"));
      await label("a", "api");
      await write("DELETE", "/api/v1/namespaces/default/pods/b?gracePeriodSeconds=0");
      // even an immediate deletion is a MODIFIED (deletionTimestamp set) and then a DELETED (transcript 02)
      await eventually(() => expect(events).toEqual(["ADDED f", "MODIFIED a", "MODIFIED b", "DELETED b"]));
      expect(fresh).toBe(5);
    });

    it("resumes a dropped watch from its resourceVersion without relisting or missing a change", async () => {
      start();
      await watching();
      events.length = 0;
      sim.dropWatches();
      await label("c", "api");
      await eventually(() => expect(events).toEqual(["MODIFIED c"]));
      expect(lists()).toHaveLength(3);
    });

    it("says when it is back after an outage even if nothing changed meanwhile", async () => {
      start({ minWatchMs: 100 });
      await watching();
      const restore = await sim.outage();
      await eventually(() => expect(errors.length).toBeGreaterThan(0));
      expect(recovered).toBe(0);
      await restore();
      await eventually(() => expect(recovered).toBe(1));
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
    });

    it("relists after an outage and 410 Gone, reporting what vanished and what changed, not what stayed", async () => {
      start();
      await watching();
      events.length = 0;
      // the apiserver goes away; another on the same etcd takes writes; history is compacted meanwhile
      const restore = await sim.outage();
      const pods = sim.store.type("", "v1", "pods")!;
      sim.store.delete(pods, "default", "d", 0);
      sim.store.update(pods, "default", "c", cur => ({ ...cur, metadata: { ...cur.metadata, labels: { app: "x" } } }), {
        fieldManager: "test",
        operation: "Update",
      });
      sim.create(pod("g"));
      sim.compact();
      await eventually(() => expect(errors.length).toBeGreaterThan(0));
      await restore();
      await eventually(() => expect(events.sort()).toEqual(["ADDED g", "DELETED d", "MODIFIED c"]));
      expect(synced).toBe(1);
      expect(recovered).toBe(1);
      // the relist was paged too, and the watch resumed from it
      expect(lists().length).toBeGreaterThan(3);
    });
  });

  describe("lists whose continue token expires", () => {
    beforeEach(() => boot());

    it("restarts a list whose continue token expired and reports no deletion", async () => {
      // between the first and the second page, history is compacted: the token expires (410)
      consumer = (phase, obj) => {
        if (phase === "ADDED" && obj.metadata?.name === "b" && lists().length === 1) {
          sim.create(pod("f"));
          sim.compact();
        }
      };
      start();
      await eventually(() => expect(synced).toBe(1));
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e", "ADDED f"]);
      // first page, expired continue, then the whole list again from its first page
      expect(lists().map(r => !!param(r.path, "continue"))).toEqual([false, true, false, true, true]);
      // and the watch that follows still reports changes: nothing was tombstoned
      await label("a", "api");
      await eventually(() => expect(events.at(-1)).toBe("MODIFIED a"));
    });

    it("lists unpaged once its continue token expired pagedRestarts times in a row", async () => {
      sim.faults.add({ resource: "pods", on: "continue", action: { type: "status", code: 410 }, times: 2 });
      start({ pagedRestarts: 1 });
      await eventually(() => expect(synced).toBe(1));
      expect(lists().map(r => [param(r.path, "limit"), !!param(r.path, "continue")])).toEqual([
        ["2", false],
        ["2", true],
        ["2", false],
        ["2", true],
        [null, false],
      ]);
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
      expect(errors).toEqual([]);
    });
  });

  describe("resuming after a failure", () => {
    it("resumes from the newest resourceVersion after a reset connection and replays no older state", async () => {
      await boot();
      start();
      await watching();
      events.length = 0;
      await label("c", "one");
      await label("c", "two");
      await eventually(() => expect(events).toEqual(["MODIFIED c", "MODIFIED c"]));
      const newest = podRv("c");
      sim.dropWatches(); // the server destroys the sockets: ECONNRESET at the client
      await eventually(() => expect(watches()).toHaveLength(2));
      expect(param(watches()[1].path, "resourceVersion")).toBe(newest);
      await label("d", "three");
      await eventually(() => expect(events).toEqual(["MODIFIED c", "MODIFIED c", "MODIFIED d"]));
      expect(lists()).toHaveLength(3);
    });

    it("resumes from the last event delivered before an RST, not from the list's resourceVersion", async () => {
      await boot();
      sim.faults.add({ resource: "pods", on: "watch", action: { type: "cutAfter", events: 2, reset: true }, times: 1 });
      start();
      await eventually(() => expect(synced).toBe(1));
      events.length = 0;
      await label("c", "one");
      await label("c", "two");
      await eventually(() => expect(watches()).toHaveLength(2));
      expect(param(watches()[1].path, "resourceVersion")).toBe(podRv("c"));
      await label("d", "three");
      await eventually(() => expect(events).toEqual(["MODIFIED c", "MODIFIED c", "MODIFIED d"]));
      expect(String(errors[0])).toMatch(/ECONNRESET|connection was cut/);
    });

    it("resumes from the newest bookmark, so a compaction meanwhile needs no relist", async () => {
      await boot({ bookmarkIntervalMs: 50 });
      start();
      await watching();
      otherWrite("elsewhere"); // bumps the resourceVersion; pods' watch hears of it only by bookmark
      const current = String(sim.store.resourceVersion);
      const before = fresh;
      await eventually(() => expect(fresh).toBeGreaterThan(before + 1));
      sim.compact(); // the list's resourceVersion is gone from history now; the bookmark's is not
      sim.dropWatches();
      await eventually(() => expect(watches().length).toBeGreaterThan(1));
      expect(param(watches()[1].path, "resourceVersion")).toBe(current);
      await label("a", "api");
      await eventually(() => expect(events.at(-1)).toBe("MODIFIED a"));
      expect(lists()).toHaveLength(3);
    });

    it("resumes a watch cut in the middle of a line and delivers that event once", async () => {
      await boot();
      start();
      await watching();
      events.length = 0;
      sim.faults.add({
        resource: "pods",
        on: "watch",
        action: { type: "cutAfter", events: 0, midLine: true },
        times: 1,
      });
      sim.dropWatches();
      await eventually(() => expect(watches()).toHaveLength(2));
      await label("b", "api");
      await eventually(() => expect(events).toEqual(["MODIFIED b"]));
      await eventually(() => expect(watches()).toHaveLength(3));
      expect(param(watches()[2].path, "resourceVersion")).toBe(param(watches()[1].path, "resourceVersion"));
      expect(events).toEqual(["MODIFIED b"]);
    });
  });

  describe("backing off", () => {
    beforeEach(() => boot());

    it("backs off a watch the server ends at once instead of reopening it hundreds of times a second", async () => {
      start({ backoff: { initialMs: 50, maxMs: 400, random: () => 0 } });
      await watching();
      const remove = sim.faults.add({ resource: "pods", on: "watch", action: { type: "endAtOnce" } });
      sim.dropWatches();
      await new Promise(r => setTimeout(r, 1200));
      remove();
      const ended = watches().slice(1);
      // waits 50, 100, 200, 400, 400 ms: a handful of watches, not hundreds
      expect(ended.length).toBeGreaterThanOrEqual(3);
      expect(ended.length).toBeLessThanOrEqual(7);
      expect(gaps(ended.slice(0, 4)).every((g, i) => g >= [100, 200, 400][i] - 5)).toBe(true);
      expect(errors.length).toBeGreaterThanOrEqual(3);
      // it stayed failed (no recovery between short watches), and recovers once a watch holds
      expect(recovered).toBe(0);
      await label("a", "api");
      await eventually(() => expect(events.at(-1)).toBe("MODIFIED a"));
      await eventually(() => expect(recovered).toBe(1));
    });

    it.each([
      ["watch", 429],
      ["list", 503],
    ] as const)("honours Retry-After on a %s answered %i", async (on, code) => {
      if (on === "list")
        sim.faults.add({ resource: "pods", on, action: { type: "status", code, retryAfterSeconds: 2 }, times: 1 });
      if (on === "watch") {
        start();
        await eventually(() => expect(watches()).toHaveLength(1));
        sim.faults.add({ resource: "pods", on, action: { type: "status", code, retryAfterSeconds: 2 }, times: 1 });
        sim.dropWatches();
        await eventually(() => expect(watches()).toHaveLength(3));
        expect(gaps(watches().slice(1))[0]).toBeGreaterThanOrEqual(1990);
      } else {
        start();
        await eventually(() => expect(synced).toBe(1));
        expect(gaps(lists().slice(0, 2))[0]).toBeGreaterThanOrEqual(1990);
      }
      expect(errors.map(String).filter(e => e.includes(String(code)))).toHaveLength(1);
    });

    it("backs off repeated 410s instead of relisting at once", async () => {
      // every watch answers 410 (its resourceVersion too old) three times in a row
      sim.faults.add({ resource: "pods", on: "watch", action: { type: "status", code: 410 }, times: 3 });
      start({ backoff: { initialMs: 100, maxMs: 1000, random: () => 0 } });
      await eventually(() => expect(watches()).toHaveLength(4));
      // each 410 relists (a list's first page, then its continue pages), 100, 200, 400 ms later
      const relists = lists().filter(r => !param(r.path, "continue"));
      expect(relists).toHaveLength(4);
      const waited = watches()
        .slice(0, 3)
        .map((w, i) => relists[i + 1].at - w.at);
      expect(waited[0]).toBeGreaterThanOrEqual(95);
      expect(waited[1]).toBeGreaterThanOrEqual(195);
      expect(waited[2]).toBeGreaterThanOrEqual(395);
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
      expect(errors).toEqual([]); // a 410 is routine, not a failure to report
    });
  });

  describe("liveness", () => {
    beforeEach(() => boot());

    it("cuts and resumes a watch that delivered nothing for idleTimeoutMs", async () => {
      sim.faults.add({ resource: "pods", on: "watch", action: { type: "stall" }, times: 1 });
      start({ idleTimeoutMs: 300 });
      await eventually(() => expect(synced).toBe(1));
      await label("e", "api"); // written into the stalled watch: lost there
      await eventually(() => expect(events.at(-1)).toBe("MODIFIED e"), 3000);
      expect(watches()).toHaveLength(2);
      expect(param(watches()[1].path, "resourceVersion")).toBe(param(watches()[0].path, "resourceVersion"));
      expect(String(errors[0])).toMatch(/nothing received for 300 ms/);
    });

    it("lists again after a page cut mid-answer, saying so, and delivers every object once", async () => {
      sim.faults.add({ resource: "pods", on: "continue", action: { type: "cutBody" }, times: 1 });
      start();
      await eventually(() => expect(synced).toBe(1), 3000);
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
      expect(errors.map(String)).toEqual([expect.stringMatching(/^Error: GET \/api\/v1\/pods: .*ECONNRESET/)]);
    });

    it("abandons a list page not answered within requestTimeoutMs and lists again", async () => {
      sim.faults.add({ resource: "pods", on: "continue", action: { type: "stall" }, times: 1 });
      start({ requestTimeoutMs: 300 });
      await eventually(() => expect(synced).toBe(1), 3000);
      expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
      expect(String(errors[0])).toMatch(/no full answer within 300 ms/);
    });
  });

  describe("stop()", () => {
    beforeEach(() => boot());

    it("stops at once: no event after it returns, not the rest of the page, and no request after", async () => {
      consumer = (_phase, obj) => {
        if (obj.metadata?.name === "a") feed!.stop();
      };
      start();
      await eventually(() => expect(lists().length).toBeGreaterThanOrEqual(1));
      await label("c", "api");
      await new Promise(r => setTimeout(r, 300));
      expect(events).toEqual(["ADDED a"]);
      // the first page, and at most the second, asked for before the first was handed over: no
      // third page, no watch
      expect(lists().map(r => param(r.path, "continue") !== null)).toEqual(
        lists().length === 1 ? [false] : [false, true],
      );
      expect(watches()).toHaveLength(0);
      expect(synced).toBe(0);
    });

    it("stops while it waits to retry: no request is opened after", async () => {
      const restore = await sim.outage();
      start({ backoff: { initialMs: 200, random: () => 0 } });
      await eventually(() => expect(errors.length).toBe(1));
      feed!.stop();
      await restore();
      await new Promise(r => setTimeout(r, 400));
      expect(podRequests()).toHaveLength(0);
      expect(errors).toHaveLength(1);
    });
  });

  describe("a consumer that throws", () => {
    beforeEach(() => boot());

    it("skips the object, reports it once, and carries on with the next event without replaying it", async () => {
      consumer = (phase, obj) => {
        if (phase === "MODIFIED" && obj.metadata?.name === "c") throw new Error("poison");
      };
      start();
      await eventually(() => expect(synced).toBe(1));
      await label("c", "api");
      await label("d", "api");
      await eventually(() => expect(events.slice(5)).toEqual(["MODIFIED c", "MODIFIED d"]));
      await new Promise(r => setTimeout(r, 300));
      expect(events.slice(5)).toEqual(["MODIFIED c", "MODIFIED d"]);
      expect(skipped).toEqual(["MODIFIED c: poison"]);
      expect(errors).toEqual([]);
      expect(watches()).toHaveLength(1);
    });
  });
});

describe("continueOf", () => {
  it("reads a page's continue token from its head, and nothing from a last page or another shape", () => {
    const page = (metadata: object) =>
      JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata, items: [{ metadata: { name: "a" } }] });
    expect(
      continueOf(page({ resourceVersion: "9", continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ", remainingItemCount: 3 })),
    ).toBe("eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ");
    expect(continueOf(page({ resourceVersion: "9" }))).toBeUndefined();
    expect(continueOf(page({ resourceVersion: "9", continue: "" }))).toBeUndefined();
    expect(continueOf(JSON.stringify({ items: [], metadata: { continue: "x" } }))).toBeUndefined();
    expect(continueOf(`{"metadata":{"continue":"x"${" ".repeat(5000)}},"items":[]}`)).toBeUndefined();
    expect(continueOf("not json")).toBeUndefined();
  });
});
