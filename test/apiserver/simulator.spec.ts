import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";
import { callApi, readWatch } from "./transcript";

/** Behaviour of the simulated apiserver that the transcripts cannot show at test speed. */
describe("simulated kube-apiserver", () => {
  let sim: SimulatedApiServer;
  const call = (method: string, path: string, body?: unknown, contentType?: string) =>
    callApi(sim.url, method, path, body, contentType);
  /** the events a watch receives until `ms` have passed (or the server ends it) */
  const watchFor = async (path: string, ms: number, during: () => Promise<unknown> = async () => {}) => {
    const abort = new AbortController();
    const events: KObject[] = [];
    const res = await fetch(sim.url + path, { signal: abort.signal });
    const reading = readWatch(res, events);
    await during();
    const ended = await Promise.race([reading, new Promise(r => setTimeout(() => r("timeout"), ms))]);
    abort.abort();
    return { events, endedBy: ended };
  };
  const pod = (name: string, labels: Record<string, string> = {}, nodeName: string | undefined = "node-a") => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels },
    spec: { nodeName, containers: [{ name: "c", image: "nginx" }] },
  });

  beforeEach(async () => {
    sim = await startApiServer({ bookmarkIntervalMs: 200, historyLimit: 50 });
  });
  afterEach(() => sim.close());

  it("sends headers at once on an idle watch, BOOKMARKs with the current version, and ends at timeoutSeconds", async () => {
    const list = await call("GET", "/api/v1/namespaces/default/pods");
    const rv = list.body.metadata.resourceVersion;
    sim.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "other", namespace: "default" } });
    const { events, endedBy } = await watchFor(
      `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`,
      3000,
    );
    expect(endedBy).toBe("closed-by-server");
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      expect(e).toMatchObject({
        type: "BOOKMARK",
        object: { kind: "Pod", apiVersion: "v1", metadata: { creationTimestamp: null } },
      });
      expect(Number(e.object.metadata.resourceVersion)).toBeGreaterThan(Number(rv));
    }
  });

  it("answers a watch from a compacted version with one ERROR 410 and closes it", async () => {
    const created = await call("POST", "/api/v1/namespaces/default/pods", pod("p1"));
    sim.compact();
    const { events, endedBy } = await watchFor(
      `/api/v1/pods?watch=true&resourceVersion=${Number(created.body.metadata.resourceVersion) - 1}`,
      2000,
    );
    expect(endedBy).toBe("closed-by-server");
    expect(events).toEqual([
      { type: "ERROR", object: expect.objectContaining({ kind: "Status", reason: "Expired", code: 410 }) },
    ]);
    expect((await call("GET", `/api/v1/pods?resourceVersion=1&resourceVersionMatch=Exact`)).status).toBe(410);
  });

  it("expires versions that fell out of the retained history", async () => {
    const first = await call("POST", "/api/v1/namespaces/default/pods", pod("p1"));
    for (let i = 0; i < 60; i++)
      await call(
        "PATCH",
        "/api/v1/namespaces/default/pods/p1",
        { metadata: { labels: { n: String(i) } } },
        "application/merge-patch+json",
      );
    const { events } = await watchFor(
      `/api/v1/pods?watch=true&resourceVersion=${first.body.metadata.resourceVersion}`,
      1000,
    );
    expect(events.map(e => e.type)).toEqual(["ERROR"]);
  });

  it("translates label changes into ADDED/DELETED for a selector watch, DELETED carrying the old labels", async () => {
    await call("POST", "/api/v1/namespaces/default/pods", pod("w", { app: "web" }));
    const { events } = await watchFor(
      "/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dweb",
      500,
      async () => {
        await new Promise(r => setTimeout(r, 50));
        await call(
          "PATCH",
          "/api/v1/namespaces/default/pods/w",
          { metadata: { labels: { app: "db" } } },
          "application/merge-patch+json",
        );
        await call(
          "PATCH",
          "/api/v1/namespaces/default/pods/w",
          { metadata: { labels: { app: "web" } } },
          "application/merge-patch+json",
        );
      },
    );
    expect(events.map(e => e.type)).toEqual(["ADDED", "DELETED", "ADDED"]);
    expect(events[1].object.metadata.labels).toEqual({ app: "web" });
    expect(Number(events[1].object.metadata.resourceVersion)).toBeGreaterThan(
      Number(events[0].object.metadata.resourceVersion),
    );
  });

  it("deletes a scheduled pod gracefully (MODIFIED), and for good only with gracePeriodSeconds=0 (MODIFIED, DELETED)", async () => {
    await call("POST", "/api/v1/namespaces/default/pods", pod("g"));
    const { events } = await watchFor("/api/v1/namespaces/default/pods?watch=1", 500, async () => {
      await new Promise(r => setTimeout(r, 50));
      const graceful = await call("DELETE", "/api/v1/namespaces/default/pods/g");
      expect(graceful.body.metadata).toMatchObject({
        deletionGracePeriodSeconds: 30,
        deletionTimestamp: expect.any(String),
      });
      expect((await call("GET", "/api/v1/namespaces/default/pods/g")).status).toBe(200);
      await call("DELETE", "/api/v1/namespaces/default/pods/g?gracePeriodSeconds=0");
    });
    expect(events.map(e => e.type)).toEqual(["ADDED", "MODIFIED", "MODIFIED", "DELETED"]);
    expect((await call("GET", "/api/v1/namespaces/default/pods/g")).status).toBe(404);
  });

  it("acts as a kubelet when asked: a graceful pod deletion completes after the delay", async () => {
    await sim.close();
    sim = await startApiServer({ kubeletDeleteDelayMs: 100 });
    await call("POST", "/api/v1/namespaces/default/pods", pod("k"));
    await call("DELETE", "/api/v1/namespaces/default/pods/k");
    await new Promise(r => setTimeout(r, 300));
    expect((await call("GET", "/api/v1/namespaces/default/pods/k")).status).toBe(404);
  });

  it("keeps no-op writes silent: same resourceVersion, no event; a stale PUT is a 409", async () => {
    await call("POST", "/api/v1/namespaces/default/pods", pod("n", { app: "web" }));
    const read = (await call("GET", "/api/v1/namespaces/default/pods/n")).body;
    const { events } = await watchFor(
      `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${read.metadata.resourceVersion}`,
      400,
      async () => {
        const same = await call(
          "PATCH",
          "/api/v1/namespaces/default/pods/n?fieldManager=someone-else",
          { metadata: { labels: { app: "web" } } },
          "application/merge-patch+json",
        );
        expect(same.body.metadata.resourceVersion).toBe(read.metadata.resourceVersion);
        expect((await call("PUT", "/api/v1/namespaces/default/pods/n", read)).body.metadata.resourceVersion).toBe(
          read.metadata.resourceVersion,
        );
        expect(
          (
            await call("PUT", "/api/v1/namespaces/default/pods/n", {
              ...read,
              metadata: { ...read.metadata, resourceVersion: "1" },
            })
          ).status,
        ).toBe(409);
      },
    );
    expect(events).toEqual([]);
  });

  it("keeps every version as it was written: writes share unchanged parts, never change them", async () => {
    const created = (await call("POST", "/api/v1/namespaces/default/pods", pod("v", { app: "a", tier: "x" }))).body;
    const path = "/api/v1/namespaces/default/pods/v";
    const merge = (body: unknown) => call("PATCH", path, body, "application/merge-patch+json");
    await merge({ metadata: { labels: { app: "b" } } });
    await call(
      "PATCH",
      path,
      [{ op: "replace", path: "/metadata/labels/tier", value: "y" }],
      "application/json-patch+json",
    );
    await call("PATCH", `${path}/status`, { status: { phase: "Running" } }, "application/merge-patch+json");
    const latest = (await call("GET", path)).body;
    await call("PUT", path, { ...latest, metadata: { ...latest.metadata, labels: { app: "c" } } });
    // replayed from history after all the writes: each event still carries its own version
    const { events } = await watchFor(
      `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${created.metadata.resourceVersion}`,
      300,
    );
    expect(events.map(e => [e.object.metadata.labels, e.object.status?.phase ?? "Pending"])).toEqual([
      [{ app: "b", tier: "x" }, "Pending"],
      [{ app: "b", tier: "y" }, "Pending"],
      [{ app: "b", tier: "y" }, "Running"],
      [{ app: "c" }, "Running"],
    ]);
    expect(new Set(events.map(e => e.object.metadata.resourceVersion)).size).toBe(4);
    expect((await call("GET", path)).body.metadata.labels).toEqual({ app: "c" });
  });

  it("server-side apply creates (201), repeats silently, and needs a fieldManager (422)", async () => {
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "default" }, data: { k: "v" } };
    const path = "/api/v1/namespaces/default/configmaps/a";
    expect((await call("PATCH", `${path}?fieldManager=me`, cm, "application/apply-patch+yaml")).status).toBe(201);
    const again = await call("PATCH", `${path}?fieldManager=me`, cm, "application/apply-patch+yaml");
    const byOther = await call("PATCH", `${path}?fieldManager=other`, cm, "application/apply-patch+yaml");
    expect(Number(byOther.body.metadata.resourceVersion)).toBeGreaterThan(Number(again.body.metadata.resourceVersion));
    expect((await call("PATCH", path, cm, "application/apply-patch+yaml")).status).toBe(422);
  });

  it("pages lists in namespace/name order with continue tokens and remainingItemCount", async () => {
    for (const name of ["c", "a", "b"]) await call("POST", "/api/v1/namespaces/default/pods", pod(name));
    const first = await call("GET", "/api/v1/pods?limit=2");
    expect(first.body.items.map((p: KObject) => p.metadata.name)).toEqual(["a", "b"]);
    expect(first.body.metadata.remainingItemCount).toBe(1);
    const rest = await call("GET", `/api/v1/pods?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
    expect(rest.body.items.map((p: KObject) => p.metadata.name)).toEqual(["c"]);
    expect(rest.body.metadata.continue).toBeUndefined();
    expect((await call("GET", "/api/v1/pods?labelSelector=app%20in%20(")).status).toBe(400);
    expect((await call("GET", "/api/v1/pods?fieldSelector=metadata.uid%3Dx")).body.message).toBe(
      "field label not supported: metadata.uid",
    );
  });

  it("keeps key order across writes between pages, within a namespace, and under a selector", async () => {
    await call("POST", "/api/v1/namespaces", { metadata: { name: "zeta" } });
    for (const name of ["d", "b", "f"]) await call("POST", "/api/v1/namespaces/default/pods", pod(name, { tier: "x" }));
    await call("POST", "/api/v1/namespaces/zeta/pods", { ...pod("a"), metadata: { name: "a", namespace: "zeta" } });
    const names = (r: { body: KObject }) =>
      r.body.items.map((p: KObject) => `${p.metadata.namespace}/${p.metadata.name}`);
    const first = await call("GET", "/api/v1/pods?limit=2");
    expect(names(first)).toEqual(["default/b", "default/d"]);
    // between pages: an update keeps the order, a create lands in its place, a delete leaves it
    await call(
      "PATCH",
      "/api/v1/namespaces/default/pods/d",
      { metadata: { labels: { v: "2" } } },
      "application/merge-patch+json",
    );
    await call("POST", "/api/v1/namespaces/default/pods", pod("e", { tier: "x" }));
    await call("DELETE", "/api/v1/namespaces/default/pods/f?gracePeriodSeconds=0");
    const rest = await call("GET", `/api/v1/pods?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
    expect(names(rest)).toEqual(["default/e", "zeta/a"]);
    expect(rest.body.metadata.continue).toBeUndefined();
    expect(names(await call("GET", "/api/v1/namespaces/zeta/pods"))).toEqual(["zeta/a"]);
    const selected = await call("GET", "/api/v1/pods?labelSelector=tier%3Dx&limit=1");
    expect(names(selected)).toEqual(["default/b"]);
    expect(selected.body.metadata.remainingItemCount).toBeUndefined();
    const next = `/api/v1/pods?labelSelector=tier%3Dx&limit=5&continue=${encodeURIComponent(selected.body.metadata.continue)}`;
    expect(names(await call("GET", next))).toEqual(["default/d", "default/e"]);
  });
  it("serves kubectl: get (as a table), label and delete", async () => {
    let kubectl = true;
    try {
      execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    } catch {
      kubectl = false;
    }
    if (!kubectl)
      return void console.warn("kubectl is not installed: the kubectl part of the simulator is not tested here");
    sim.create(pod("kube-me", { app: "web" }));
    // the simulator runs in this process: kubectl must run asynchronously
    const k = async (...args: string[]) =>
      (
        await promisify(execFile)("kubectl", ["--kubeconfig", sim.kubeconfigPath, "--request-timeout=10s", ...args], {
          encoding: "utf8",
        })
      ).stdout;
    expect(await k("get", "pods", "-A")).toMatch(
      /NAMESPACE\s+NAME\s+READY\s+STATUS[\s\S]*default\s+kube-me\s+0\/1\s+Pending/,
    );
    expect(await k("label", "pod", "kube-me", "team=a")).toContain("pod/kube-me labeled");
    expect(sim.get("v1", "Pod", "kube-me", "default")!.metadata.labels).toEqual({ app: "web", team: "a" });
    expect(await k("delete", "pod", "kube-me", "--grace-period=0", "--force")).toContain("deleted");
    expect(sim.get("v1", "Pod", "kube-me", "default")).toBeUndefined();
  });

  it("delays the lists of the resources it is told are slow, and only those", async () => {
    await sim.close();
    sim = await startApiServer({ listDelayMs: { endpointslices: 300 } });
    let t0 = Date.now();
    expect((await call("GET", "/apis/discovery.k8s.io/v1/endpointslices")).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    t0 = Date.now();
    expect((await call("GET", "/api/v1/pods")).status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(250);
  });
});
