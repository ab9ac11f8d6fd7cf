import { K8s, kind } from "kubernetes-fluent-client";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PodIndex, type PodIndexSpec } from "../../src/kinds/podindex";
import type { SimulatedApiServer } from "../apiserver/server";
import { startCluster } from "../support/cluster";
import { eventually, startModule } from "../support/module";

/** PodIndex status as `kubectl get podindex` shows it, written by the real module. */
describe("PodIndex status written by the module", () => {
  let sim: SimulatedApiServer;
  let url: string;
  let stop: () => Promise<void>;

  const apply = (name: string, spec: PodIndexSpec) =>
    K8s(PodIndex).Apply(
      { apiVersion: "podindex.dev/v1alpha1", kind: "PodIndex", metadata: { name }, spec },
      { force: true },
    );
  const status = async (name: string) => (await K8s(PodIndex).Get(name)).status ?? {};
  const statusWrites = (name: string) =>
    sim.requests.filter(
      r => r.method === "PATCH" && r.path.startsWith(`/apis/podindex.dev/v1alpha1/podindexes/${name}/status`),
    ).length;
  let ipSeq = 0;
  async function runPod(namespace: string, name: string, labels: Record<string, string>) {
    await K8s(kind.Pod).Create({
      metadata: { name, namespace, labels },
      spec: { nodeName: "node-a", containers: [{ name: "c", image: "nginx" }] },
    });
    const ip = `10.42.9.${++ipSeq}`;
    await K8s(kind.Pod).PatchStatus({
      metadata: { name, namespace },
      status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
    });
    return ip;
  }

  beforeAll(async () => {
    sim = await startCluster();
    for (const ns of ["s1", "s2"]) await K8s(kind.Namespace).Create({ metadata: { name: ns } });
    await apply("all-s1", { namespaces: ["s1"] });
    await apply("web", { namespaces: ["s1", "s2"], podSelector: { matchLabels: { app: "web" } } });
    const mod = await startModule(0, 200);
    url = mod.url;
    stop = () => mod.app.stop();
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 20_000);
  });
  afterAll(async () => {
    await stop?.();
    await sim?.close();
  });

  it("counts pods, IPs and namespaces per PodIndex, over one shared cache, with Ready and Degraded conditions", async () => {
    await runPod("s1", "web-1", { app: "web" });
    await runPod("s1", "db-1", { app: "db" });
    await runPod("s2", "web-2", { app: "web" });
    await eventually(async () => {
      expect(await status("all-s1")).toMatchObject({
        observedGeneration: 1,
        pods: 2,
        ips: 2,
        conflicts: 0,
        namespaces: 1,
      });
      expect(await status("web")).toMatchObject({ pods: 2, ips: 2, namespaces: 2 });
    });
    const s = await status("web");
    expect(s.conditions).toEqual([
      expect.objectContaining({ type: "Degraded", status: "False", reason: "WatchHealthy", observedGeneration: 1 }),
      expect.objectContaining({
        type: "Ready",
        status: "True",
        reason: "Serving",
        message: "serving 2 pods with 2 IPs",
        observedGeneration: 1,
      }),
    ]);
    expect(s.lastSyncTime).toEqual(expect.any(String));
    expect(await (await fetch(`${url}/v1/indexes/web`)).json()).toMatchObject({
      name: "web",
      status: { pods: 2, ips: 2 },
    });
  });

  it("writes nothing when nothing changed, and coalesces a burst into few writes", async () => {
    const before = statusWrites("all-s1");
    await new Promise(r => setTimeout(r, 1000)); // five status intervals
    expect(statusWrites("all-s1")).toBe(before);

    await Promise.all(Array.from({ length: 20 }, (_, i) => runPod("s1", `burst-${i}`, { app: "batch" })));
    await eventually(async () => expect((await status("all-s1")).pods).toBe(22));
    expect(statusWrites("all-s1") - before).toBeLessThanOrEqual(4);
  });

  it("follows a selector change and a deletion without a restart", async () => {
    const readyBefore = (await status("web")).conditions!.find(c => c.type === "Ready")!;
    await apply("web", { namespaces: ["s1", "s2"], podSelector: { matchLabels: { app: "db" } } });
    await eventually(async () =>
      expect(await status("web")).toMatchObject({ observedGeneration: 2, pods: 1, namespaces: 1 }),
    );
    const servedByWeb = (await (await fetch(`${url}/v1/pods?index=web`)).json()) as { items: { name: string }[] };
    expect(servedByWeb.items.map(p => p.name)).toEqual(["db-1"]);
    // Ready stayed True: its lastTransitionTime did not move
    expect((await status("web")).conditions!.find(c => c.type === "Ready")!.lastTransitionTime).toBe(
      readyBefore.lastTransitionTime,
    );

    await K8s(PodIndex).Delete("all-s1");
    await eventually(async () => expect((await fetch(`${url}/v1/indexes/all-s1`)).status).toBe(404));
    const web1 = (await (await fetch(`${url}/v1/pods?namespace=s1`)).json()) as { items: { name: string }[] };
    expect(web1.items.map(p => p.name)).toEqual(["db-1"]);
  });

  it("shows in `kubectl get podindex` (-o wide too) and in /metrics", async () => {
    let out: string;
    try {
      const kubectl = (...args: string[]) =>
        promisify(execFile)("kubectl", ["--kubeconfig", sim.kubeconfigPath, "--request-timeout=10s", ...args], {
          encoding: "utf8",
        });
      out = (await kubectl("get", "podindex")).stdout;
      expect(out).toMatch(/NAME\s+PODS\s+IPS\s+CONFLICTS\s+READY\s+AGE\n/);
      expect(out).toMatch(/\nweb\s+1\s+1\s+0\s+True\s+\d+s/);
      expect((await kubectl("get", "podindex", "web", "-o", "wide")).stdout).toMatch(
        /NAMESPACES\s+REASON\s+SYNCED\n.*\s1\s+Serving\s+\d+s/,
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      console.warn("kubectl is not installed: `kubectl get podindex` is not tested here");
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/podindex_status_writes_total\{podindex="web"\} [1-9]/);
    expect(metrics).toMatch(/podindex_watch_events_total\{kind="pods",type="ADDED"\} [1-9]/);
    expect(metrics).toContain('podindex_indexed_pods{podindex="web"} 1');
    expect(metrics).toMatch(/podindex_relists_total\{kind="pods"\} 1/);
  });

  it("reports an invalid PodIndex as Ready=False with a reason while a valid one beside it keeps working", async () => {
    await apply("broken", { podSelector: { matchLabels: { "bad key!": "x" } } });
    await eventually(async () => {
      const ready = (await status("broken")).conditions?.find(c => c.type === "Ready");
      expect(ready).toMatchObject({
        status: "False",
        reason: "InvalidLabelKey",
        message: expect.stringContaining("spec.podSelector.matchLabels"),
      });
    });
    expect((await status("web")).conditions!.find(c => c.type === "Ready")!.status).toBe("True");
    expect((await fetch(`${url}/v1/pods?index=web`)).status).toBe(200);
    // a lookup naming it says it exists, is not served, and why
    const named = await fetch(`${url}/v1/pods?index=broken`);
    expect(named.status).toBe(404);
    expect(await named.json()).toMatchObject({
      error: "IndexNotServed",
      message: expect.stringMatching(/^PodIndex "broken" exists but is not served: spec\.podSelector\.matchLabels/),
    });
    // and once as a Warning Event about it, as `kubectl describe podindex broken` shows
    const broken = await K8s(PodIndex).Get("broken");
    await eventually(async () => {
      const events = (await K8s(kind.CoreEvent).InNamespace("default").Get()).items.filter(
        e => e.involvedObject.kind === "PodIndex" && e.involvedObject.uid === broken.metadata!.uid,
      );
      expect(events.map(e => [e.type, e.reason])).toEqual([["Warning", "InvalidLabelKey"]]);
      expect(events[0].message).toContain("not served: spec.podSelector.matchLabels");
    });
  });
});
