import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedApiServer } from "../apiserver/server";
import { createRunningPod, podIndexCrd, startCluster } from "../support/cluster";
import { eventually, peprWatchRequests, peprWatching, startModule } from "../support/module";
import { PodIndex } from "../../src/kinds/podindex";

/** The real Pepr module started before its PodIndex CRD is installed. */
describe("podindex module started before the PodIndex CRD", () => {
  let sim: SimulatedApiServer;
  let url: string;
  let stop: () => Promise<void>;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
  const get = async (path: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(url + path);
    return { status: res.status, body: await res.json() };
  };
  const podIndexWatches = () => peprWatchRequests(sim);

  beforeAll(async () => {
    sim = await startCluster({ podIndexCrd: false });
    await K8s(kind.Namespace).Create({ metadata: { name: "apps" } });
    await createRunningPod("apps", "web-1", "10.44.0.1", { app: "web" });
    const mod = await startModule();
    url = mod.url;
    stop = () => mod.app.stop();
  });

  afterAll(async () => {
    await stop?.();
    await sim?.close();
  });

  it("waits saying why, with Pepr's watches retrying once a second without giving up, and serves once the CRD appears", async () => {
    await eventually(async () => {
      const ready = await get("/readyz");
      expect(ready).toMatchObject({ status: 503, body: { waitingFor: ["podindexes"] } });
      expect(ready.body.reason).toContain(
        "podindexes: the PodIndex CRD (podindexes.podindex.dev) is not installed; retrying every 2 s",
      );
    });
    expect((await get("/v1/pods/by-ip/10.44.0.1")).status).toBe(503);

    // Pepr's two PodIndex watches each retry every 1–2 s (PEPR_RESYNC_DELAY_SECONDS=1 plus KFC's
    // jitter of up to 1 s), never faster, and keep at it (the default gave up after 5 failures)
    await eventually(() => expect(podIndexWatches()).toBeGreaterThan(0), 10_000);
    const before = podIndexWatches();
    await new Promise(r => setTimeout(r, 8000));
    const retries = podIndexWatches() - before;
    expect(retries).toBeGreaterThanOrEqual(2 * 3);
    expect(retries).toBeLessThanOrEqual(2 * 9);

    // `kubectl apply -f crds/` at last, then a PodIndex
    const crd = await fetch(`${sim.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(podIndexCrd()),
    });
    expect(crd.status).toBe(201);
    const crdAt = sim.requests.length;
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "web" },
        spec: { podSelector: { matchLabels: { app: "web" } } },
      },
      { force: true },
    );
    await eventually(async () => expect((await get("/readyz")).status).toBe(200), 5000);
    await eventually(async () => expect((await get("/v1/pods/by-ip/10.44.0.1")).body.pod?.indexes).toEqual(["web"]));

    // and once Pepr's two watches are back (within 1–2 s: each opens at its next retry), they deliver
    // the next change (the periodic list is 30 s away)
    await peprWatching(sim, crdAt, 5000);
    await K8s(PodIndex).Delete("web");
    await eventually(async () => expect((await get("/v1/pods/by-ip/10.44.0.1")).status).toBe(404), 2000);
  }, 40_000);
});
