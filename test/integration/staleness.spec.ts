import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TrustedProxies } from "../../src/forward-auth/client-ip";
import { PodIndex } from "../../src/kinds/podindex";
import type { SimulatedApiServer } from "../apiserver/server";
import { createRunningPod, startCluster } from "../support/cluster";
import { eventually, startModule } from "../support/module";

/**
 * PODINDEX_MAX_STALENESS with the real module: a quiet healthy cluster stays fresh (bookmarks,
 * PodIndex re-lists), an apiserver outage turns identity answers into 503 Stale once the bound
 * passes, and they come back once the apiserver does. The bound is 2 s here (bookmarks every
 * 300 ms, PodIndexes re-listed every second) so the test takes seconds, not minutes.
 */
describe("staleness bound against the simulated API server", () => {
  let sim: SimulatedApiServer;
  let url: string;
  let stop: () => Promise<void>;

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url + path, { headers });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };
  const lookup = () => get("/v1/pods/by-ip/10.42.7.7");
  const forwardAuth = () => get("/v1/forward-auth?namespace=apps&name=api", { "x-forwarded-for": "10.42.7.7" });

  beforeAll(async () => {
    sim = await startCluster({ bookmarkIntervalMs: 300 });
    await K8s(kind.Namespace).Create({ metadata: { name: "apps" } });
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "web" },
        spec: { namespaces: ["apps"], forwardAuth: { allow: [] } },
      },
      { force: true },
    );
    await createRunningPod("apps", "web-1", "10.42.7.7", { app: "web" });
    const mod = await startModule(0, 200, TrustedProxies.parse("127.0.0.1"), {
      maxStalenessSeconds: 2,
      resyncSeconds: 1,
    });
    url = mod.url;
    stop = () => mod.app.stop();
    await eventually(async () => expect((await lookup()).status).toBe(200), 20_000);
  });

  afterAll(async () => {
    await stop?.();
    await sim?.close();
  });

  it("stays fresh on a quiet healthy cluster for longer than the bound", async () => {
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      expect((await lookup()).status).toBe(200);
      expect((await get("/readyz")).status).toBe(200);
      await new Promise(r => setTimeout(r, 200));
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const pods = Number(/podindex_staleness_seconds\{kind="pods"\} ([\d.e-]+)/.exec(metrics)?.[1]);
    expect(pods).toBeLessThan(2);
  });

  it("refuses lookups and forward-auth with 503 Stale during an apiserver outage, and answers again after it", async () => {
    expect((await forwardAuth()).status).toBe(200);
    const restore = await sim.outage();
    try {
      // the PodIndexes (re-listed every second) and the pods (a bookmark every 300 ms) both turn stale
      const stale = await eventually(async () => {
        const res = await lookup();
        expect(res).toMatchObject({ status: 503, body: { error: "Stale" } });
        expect(res.body.stale.map((s: { kind: string }) => s.kind)).toEqual(["pods", "podindexes"]);
        return res;
      });
      expect(stale.body.message).toMatch(
        /^the apiserver last proved the cache current \d+ s ago for pods, \d+ s ago for podindexes, longer than PODINDEX_MAX_STALENESS \(2 s\) allows$/,
      );
      const denied = await forwardAuth();
      expect(denied.status).toBe(503);
      expect(denied.headers.get("x-podindex-reason")).toBe("Stale");
      expect(denied.body).toMatchObject({ allowed: false, reason: "Stale" });
      const ready = await get("/readyz");
      expect(ready).toMatchObject({ status: 503, body: { status: "stale" } });
      expect(ready.body.stale.map((s: { kind: string }) => s.kind).sort()).toEqual([
        "endpointslices",
        "podindexes",
        "pods",
      ]);
      const degraded = (await get("/v1/indexes/web")).body.status.conditions.find(
        (c: { type: string }) => c.type === "Degraded",
      );
      expect(degraded).toMatchObject({ status: "True" });
      expect(degraded.message).toContain("older than PODINDEX_MAX_STALENESS (2 s)");
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(Number(/podindex_staleness_seconds\{kind="pods"\} ([\d.e-]+)/.exec(metrics)?.[1])).toBeGreaterThan(2);
    } finally {
      await restore();
    }

    await eventually(async () => expect((await lookup()).body.pod?.name).toBe("web-1"), 30_000);
    await eventually(async () => expect((await forwardAuth()).status).toBe(200));
    await eventually(async () => expect((await get("/readyz")).status).toBe(200));
  });
});
