import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startApiServer, type SimulatedApiServer } from "../../test/apiserver/server";
import { eventually } from "../../test/support/module";
import { makePod } from "../../test/support/pods";
import type { FeedPhase } from "./object-feed";
import { PagedFeed, type Tracked } from "./paged-feed";

/** The paged feed against the simulated apiserver (paging, watch, 410, outages as kube-apiserver does them). */
describe("PagedFeed", () => {
  let sim: SimulatedApiServer;
  let feed: PagedFeed<Tracked>;
  let events: string[];
  let errors: number;
  let synced: number;
  let recovered: number;

  const pod = (name: string) => ({ apiVersion: "v1", kind: "Pod", ...makePod({ name, namespace: "default" }) });
  const write = (method: string, path: string, body?: unknown) =>
    fetch(sim.url + path, {
      method,
      headers: { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const start = (pageSize = 2) => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(sim.kubeconfigPath);
    feed = new PagedFeed({ path: "/api/v1/pods", pageSize, retryMs: 50, kubeConfig });
    void feed.start({
      onEvent: (phase: FeedPhase, obj) => events.push(`${phase} ${obj.metadata?.name}`),
      onSynced: () => synced++,
      onError: () => errors++,
      onRecovered: () => recovered++,
    });
  };
  const lists = () => sim.requests.filter(r => r.path.startsWith("/api/v1/pods?limit="));

  beforeEach(async () => {
    sim = await startApiServer({ historyLimit: 20 });
    for (const name of ["a", "b", "c", "d", "e"]) sim.create(pod(name));
    events = [];
    errors = 0;
    synced = 0;
    recovered = 0;
  });
  afterEach(async () => {
    feed?.stop();
    await sim.close();
  });

  it("lists in pages, reports every object once, and is synced once the last page is in", async () => {
    start(2);
    await eventually(() => expect(synced).toBe(1));
    expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
    expect(lists().map(r => r.path.includes("continue="))).toEqual([false, true, true]);
  });

  it("then follows the watch: created, changed and deleted objects", async () => {
    start();
    await eventually(() => expect(synced).toBe(1));
    events.length = 0;
    await write("POST", "/api/v1/namespaces/default/pods", pod("f"));
    await write("PATCH", "/api/v1/namespaces/default/pods/a", { metadata: { labels: { app: "api" } } });
    await write("DELETE", "/api/v1/namespaces/default/pods/b?gracePeriodSeconds=0");
    // even an immediate deletion is a MODIFIED (deletionTimestamp set) and then a DELETED (transcript 02)
    await eventually(() => expect(events).toEqual(["ADDED f", "MODIFIED a", "MODIFIED b", "DELETED b"]));
  });

  it("resumes a dropped watch from its resourceVersion without relisting or missing a change", async () => {
    start();
    await eventually(() => expect(synced).toBe(1));
    events.length = 0;
    sim.dropWatches();
    await write("PATCH", "/api/v1/namespaces/default/pods/c", { metadata: { labels: { app: "api" } } });
    await eventually(() => expect(events).toEqual(["MODIFIED c"]));
    expect(lists()).toHaveLength(3);
  });

  it("says when it is back after an outage even if nothing changed meanwhile", async () => {
    start();
    await eventually(() => expect(synced).toBe(1));
    const restore = await sim.outage();
    await eventually(() => expect(errors).toBeGreaterThan(0));
    expect(recovered).toBe(0);
    await restore();
    await eventually(() => expect(recovered).toBe(1));
    expect(events).toEqual(["ADDED a", "ADDED b", "ADDED c", "ADDED d", "ADDED e"]);
  });

  it("relists after an outage and 410 Gone, reporting what vanished and what changed, not what stayed", async () => {
    start();
    await eventually(() => expect(synced).toBe(1));
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
    await eventually(() => expect(errors).toBeGreaterThan(0));
    await restore();
    await eventually(() => expect(events.sort()).toEqual(["ADDED g", "DELETED d", "MODIFIED c"]));
    expect(synced).toBe(1);
    expect(recovered).toBe(1);
    // the relist was paged too, and the watch resumed from it
    expect(lists().length).toBeGreaterThan(3);
  });
});
