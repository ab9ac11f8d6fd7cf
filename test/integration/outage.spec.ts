import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedApiServer } from "../apiserver/server";
import { startCluster } from "../support/cluster";
import { eventually, peprWatching, startModule } from "../support/module";
import { PodIndex } from "../../src/kinds/podindex";

/**
 * The real Pepr module's PodIndex watches across a long apiserver outage: the module keeps
 * answering from its cache, never gives up, and takes PodIndex changes made once the apiserver is
 * back into account within 2 s.
 */
describe("PodIndexes across an apiserver outage", () => {
  let sim: SimulatedApiServer;
  let url: string;
  let stop: () => Promise<void>;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
  const indexesAt = async (ip: string): Promise<any> => {
    const res = await fetch(`${url}/v1/pods/by-ip/${encodeURIComponent(ip)}`);
    return { status: res.status, indexes: ((await res.json()) as { pod?: { indexes: string[] } }).pod?.indexes };
  };
  const podIndex = (name: string, labels: Record<string, string>) => ({
    apiVersion: "podindex.dev/v1alpha1",
    kind: "PodIndex",
    metadata: { name },
    spec: { podSelector: { matchLabels: labels } },
  });

  async function runningPod(name: string, labels: Record<string, string>, ip: string) {
    await K8s(kind.Pod).Create({
      metadata: { name, namespace: "apps", labels },
      spec: { nodeName: "node-a", containers: [{ name: "main", image: "nginx:1.27" }] },
    });
    await K8s(kind.Pod).PatchStatus({
      metadata: { name, namespace: "apps" },
      status: { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True" }] },
    });
  }

  beforeAll(async () => {
    sim = await startCluster();
    await K8s(kind.Namespace).Create({ metadata: { name: "apps" } });
    await K8s(PodIndex).Apply(podIndex("web", { app: "web" }), { force: true });
    await runningPod("web-1", { app: "web", tier: "a" }, "10.43.0.1");
    await runningPod("batch-1", { app: "batch", tier: "a" }, "10.43.0.2");
    const mod = await startModule();
    url = mod.url;
    stop = () => mod.app.stop();
    await eventually(
      async () => expect(await indexesAt("10.43.0.1")).toEqual({ status: 200, indexes: ["web"] }),
      20_000,
    );
    await peprWatching(sim);
  });

  afterAll(async () => {
    await stop?.();
    await sim?.close();
  });

  it("answers from its cache through a 35 s outage and applies PodIndex changes within 2 s of the apiserver's return", async () => {
    const restore = await sim.outage();
    // 35 s: at one retry every 1–2 s that is 17–35 failed reconnects per Pepr watch, well past KFC's
    // default give-up count (5), and longer than the 30 s after which the default settings gave up
    for (let t = 0; t < 7; t++) {
      await new Promise(r => setTimeout(r, 5000));
      expect(await indexesAt("10.43.0.1")).toEqual({ status: 200, indexes: ["web"] });
    }
    // a PodIndex created while the module cannot see the apiserver: listed as soon as the pod feed
    // is back (or by Pepr's watch, whichever reconnects first)
    sim.create(podIndex("during", { tier: "a" }));
    const beforeReturn = sim.requests.length;
    await restore();
    await eventually(async () => expect((await indexesAt("10.43.0.2")).indexes).toEqual(["during"]), 2000);

    // changes made once it is back: a create, a spec change, a delete, each served within 2 s
    await peprWatching(sim, beforeReturn, 5000);
    await K8s(PodIndex).Apply(podIndex("batch", { app: "batch" }), { force: true });
    await eventually(async () => expect((await indexesAt("10.43.0.2")).indexes).toEqual(["batch", "during"]), 2000);

    await K8s(PodIndex).Apply(podIndex("batch", { app: "none" }), { force: true });
    await eventually(async () => expect((await indexesAt("10.43.0.2")).indexes).toEqual(["during"]), 2000);

    await K8s(PodIndex).Delete("during");
    await eventually(async () => expect((await indexesAt("10.43.0.2")).status).toBe(404), 2000);
  }, 70_000);
});
