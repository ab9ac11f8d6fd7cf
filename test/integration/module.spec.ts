import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedApiServer } from "../apiserver/server";
import { replacePodBehindOutage, startCluster } from "../support/cluster";
import { eventually, startModule } from "../support/module";
import { PodIndex } from "../../src/kinds/podindex";

/**
 * The real Pepr module (its capability, Pepr's PeprStore start-up and Reconcile binding, the KFC
 * pod feed) against the simulated kube-apiserver, observed only through HTTP lookups.
 */
describe("podindex module against the simulated API server", () => {
  let sim: SimulatedApiServer;
  let url: string;
  let stop: () => Promise<void>;

  const get = async (path: string) => {
    const res = await fetch(url + path);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
    return { status: res.status, body: (await res.json()) as any };
  };
  const podAt = async (ip: string) => get(`/v1/pods/by-ip/${encodeURIComponent(ip)}`);

  async function createPod(
    name: string,
    namespace: string,
    labels: Record<string, string>,
    extra: { hostNetwork?: boolean } = {},
  ) {
    const pod = await K8s(kind.Pod).Create({
      metadata: { name, namespace, labels },
      spec: { nodeName: "node-a", hostNetwork: extra.hostNetwork, containers: [{ name: "main", image: "nginx:1.27" }] },
    });
    return pod.metadata!.uid!;
  }

  async function setStatus(name: string, namespace: string, phase: string, ips: string[]) {
    await K8s(kind.Pod).PatchStatus({
      metadata: { name, namespace },
      status: {
        phase,
        hostIP: "10.0.0.11",
        podIP: ips[0],
        podIPs: ips.map(ip => ({ ip })),
        conditions: [{ type: "Ready", status: phase === "Running" ? "True" : "False" }],
      },
    });
  }

  /** what the kubelet does once a graceful deletion's containers are gone */
  async function finishDeletion(name: string, namespace: string) {
    const res = await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`, {
      method: "DELETE",
    });
    expect(res.status).toBe(200);
  }

  beforeAll(async () => {
    sim = await startCluster();
    for (const ns of ["apps", "kube-system-2", "batch"]) {
      await K8s(kind.Namespace).Create({ metadata: { name: ns } });
    }
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "web" },
        spec: { namespaces: ["apps", "batch"], podSelector: { matchLabels: { app: "web" } } },
      },
      { force: true },
    );
    const mod = await startModule();
    url = mod.url;
    stop = () => mod.app.stop();
    await eventually(async () => expect((await get("/readyz")).status).toBe(200), 20_000);
  });

  afterAll(async () => {
    await stop?.();
    await sim?.close();
  });

  it("follows a pod through creation, getting an IP, relabelling and deletion", async () => {
    const uid = await createPod("web-1", "apps", { app: "web" });

    // created, not yet scheduled: known by UID, owns no IP
    await eventually(async () =>
      expect((await get(`/v1/pods/by-uid/${uid}`)).body.pod).toMatchObject({ name: "web-1", podIPs: [] }),
    );

    // the kubelet reports it running with an IP
    await setStatus("web-1", "apps", "Running", ["10.42.0.10"]);
    await eventually(async () =>
      expect(await podAt("10.42.0.10")).toMatchObject({
        status: 200,
        body: { pod: { uid, name: "web-1", ready: true, indexes: ["web"] } },
      }),
    );
    expect((await get("/pod?ip=10.42.0.10")).body).toMatchObject({ name: "web-1", pod_ip: "10.42.0.10" });

    // relabelled out of the PodIndex's selector: no longer served
    await K8s(kind.Pod, { name: "web-1", namespace: "apps" }).Patch([
      { op: "replace", path: "/metadata/labels/app", value: "worker" },
    ]);
    await eventually(async () => expect((await podAt("10.42.0.10")).status).toBe(404));

    // and back in
    await K8s(kind.Pod, { name: "web-1", namespace: "apps" }).Patch([
      { op: "replace", path: "/metadata/labels/app", value: "web" },
    ]);
    await eventually(async () => expect((await podAt("10.42.0.10")).status).toBe(200));

    // a graceful delete only marks it: it still runs and still owns its IP
    await K8s(kind.Pod).InNamespace("apps").Delete("web-1");
    await eventually(async () =>
      expect((await podAt("10.42.0.10")).body.pod?.deletionTimestamp).toEqual(expect.any(String)),
    );

    // once really gone, nothing answers for it
    await finishDeletion("web-1", "apps");
    await eventually(async () => expect((await get(`/v1/pods/by-uid/${uid}`)).status).toBe(404));
    expect((await podAt("10.42.0.10")).status).toBe(404);
  });

  it("keeps a newer pod that reused an IP when the old pod's deletion arrives late, and refuses to guess meanwhile", async () => {
    await createPod("web-old", "apps", { app: "web" });
    await setStatus("web-old", "apps", "Running", ["10.42.0.20"]);
    await eventually(async () => expect((await podAt("10.42.0.20")).body.pod?.name).toBe("web-old"));

    await K8s(kind.Pod).InNamespace("apps").Delete("web-old"); // terminating, still live
    const newUid = await createPod("web-new", "apps", { app: "web" });
    await setStatus("web-new", "apps", "Running", ["10.42.0.20"]);

    // two live claimants: 409 with both, never a guess
    await eventually(async () => {
      const res = await podAt("10.42.0.20");
      expect(res.status).toBe(409);
      expect(res.body.pods.map((p: { name: string }) => p.name).sort()).toEqual(["web-new", "web-old"]);
    });

    // the old pod's DELETED removes only the old pod
    await finishDeletion("web-old", "apps");
    await eventually(async () =>
      expect(await podAt("10.42.0.20")).toMatchObject({ status: 200, body: { pod: { uid: newUid, name: "web-new" } } }),
    );
  });

  it("gives a finished pod's IP to its new owner and never answers with a hostNetwork pod", async () => {
    await createPod("job-1", "batch", { app: "web" });
    await setStatus("job-1", "batch", "Succeeded", ["10.42.1.60"]);
    await eventually(async () =>
      expect(await podAt("10.42.1.60")).toMatchObject({ status: 404, body: { reason: "terminal" } }),
    );

    await createPod("toolbox", "batch", { app: "web" });
    await setStatus("toolbox", "batch", "Running", ["10.42.1.60"]);
    await eventually(async () => expect((await podAt("10.42.1.60")).body.pod?.name).toBe("toolbox"));

    await createPod("exporter", "batch", { app: "web" }, { hostNetwork: true });
    await setStatus("exporter", "batch", "Running", ["10.0.0.11"]);
    await eventually(async () =>
      expect(await podAt("10.0.0.11")).toMatchObject({ status: 404, body: { reason: "hostNetwork" } }),
    );
  });

  it("takes a new PodIndex into account without a restart, and forgets a deleted one", async () => {
    await createPod("dns-1", "kube-system-2", { "k8s-app": "dns" });
    await setStatus("dns-1", "kube-system-2", "Running", ["10.42.2.2"]);
    await eventually(async () => expect((await get("/v1/pods?namespace=kube-system-2")).body.count).toBe(0));
    expect((await podAt("10.42.2.2")).status).toBe(404);

    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "dns" },
        spec: { namespaces: ["kube-system-2"], expose: { labels: ["k8s-app"] } },
      },
      { force: true },
    );
    await eventually(async () =>
      expect(await podAt("10.42.2.2")).toMatchObject({
        status: 200,
        body: { pod: { name: "dns-1", indexes: ["dns"], labels: { "k8s-app": "dns" } } },
      }),
    );

    await K8s(PodIndex).Delete("dns");
    await eventually(async () => expect((await podAt("10.42.2.2")).status).toBe(404));
  });
  it("catches up after an apiserver outage: a pod deleted meanwhile is gone, its IP's new owner is found", async () => {
    const victimUid = await createPod("victim", "apps", { app: "web" });
    await setStatus("victim", "apps", "Running", ["10.42.3.3"]);
    await eventually(async () => expect((await podAt("10.42.3.3")).body.pod?.name).toBe("victim"));

    // like transcript 10: the apiserver goes away; another one on the same etcd takes writes
    const restore = await sim.outage();
    replacePodBehindOutage(sim, "apps", "victim", "successor", "10.42.3.3");
    // lookups keep answering from the cache while the apiserver is away, and the index says it is degraded
    expect((await podAt("10.42.3.3")).body.pod?.name).toBe("victim");
    await eventually(async () => {
      const degraded = (await get("/v1/indexes/web")).body.status.conditions.find(
        (c: { type: string }) => c.type === "Degraded",
      );
      expect(degraded).toMatchObject({ status: "True", reason: "WatchFailing" });
    });
    await restore();

    // the feed relists and hands over the difference: DELETED for victim, ADDED for successor
    await eventually(async () => expect((await podAt("10.42.3.3")).body.pod?.name).toBe("successor"), 30_000);
    expect((await get(`/v1/pods/by-uid/${victimUid}`)).status).toBe(404);
    // and the index is no longer degraded
    await eventually(async () => {
      const degraded = (await get("/v1/indexes/web")).body.status.conditions.find(
        (c: { type: string }) => c.type === "Degraded",
      );
      expect(degraded).toMatchObject({ status: "False", reason: "WatchHealthy" });
    });

    // Pepr's PodIndex watches come back too (PEPR_RESYNC_DELAY_SECONDS=1: every 1–2 s): a new PodIndex takes effect
    await createPod("late-1", "kube-system-2", { tier: "late" });
    await setStatus("late-1", "kube-system-2", "Running", ["10.42.3.9"]);
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "late" },
        spec: { podSelector: { matchLabels: { tier: "late" } } },
      },
      { force: true },
    );
    await eventually(async () => expect((await podAt("10.42.3.9")).body.pod?.indexes).toEqual(["late"]), 30_000);
  }, 70_000);
});
