import { K8s, kind } from "kubernetes-fluent-client";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { SimulatedApiServer } from "../apiserver/server";
import { replacePodBehindOutage, startCluster } from "../support/cluster";
import { eventually, importPepr, startModule } from "../support/module";
import { makeSlice } from "../support/slices";
import { PodIndex } from "../../src/kinds/podindex";

/** the bindings' Pod and EndpointSlice watches, as KFC's Watcher asks for them (the paged feed sends watch=1) */
const peprWatches = (sim: SimulatedApiServer, collection: string, from = 0) =>
  sim.requests.slice(from).filter(r => r.path.startsWith(`${collection}?`) && /[?&]watch=true(&|$)/.test(r.path))
    .length;
const pagedWatches = (sim: SimulatedApiServer, collection: string) =>
  sim.requests.filter(r => r.path.startsWith(`${collection}?`) && /[?&]watch=1(&|$)/.test(r.path)).length;
const PODS = "/api/v1/pods";
const SLICES = "/apis/discovery.k8s.io/v1/endpointslices";

/**
 * PODINDEX_SOURCE=pepr: the real module takes pods and EndpointSlices from Pepr When(a.Pod) and
 * When(a.EndpointSlice) bindings (two watches per kind) against the simulated apiserver, observed
 * through HTTP lookups.
 */
describe("PODINDEX_SOURCE=pepr: pods and EndpointSlices through Pepr bindings", () => {
  let sim: SimulatedApiServer;
  let url: string;
  let stop: () => Promise<void>;
  /** /readyz right after the module started, while its first pod list was still being answered */
  let firstReadyz: { status: number; body: { waitingFor?: string[] } };
  /** what Pepr's watchers logged at debug level about the lists they received (logged at any level, then dropped) */
  const listLogs: unknown[][] = [];
  /** the warnings the module logged */
  const warnings: unknown[][] = [];

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
  const get = async (path: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(url + path);
    return { status: res.status, body: await res.json() };
  };
  const podAt = (ip: string) => get(`/v1/pods/by-ip/${encodeURIComponent(ip)}`);
  const endpoints = async () =>
    ((await get("/v1/services/apps/web/endpoints")).body.endpoints ?? []).map(
      (e: { addresses: string[] }) => e.addresses[0],
    );

  async function createPod(name: string, labels: Record<string, string> = { app: "web" }) {
    const pod = await K8s(kind.Pod).Create({
      metadata: { name, namespace: "apps", labels },
      spec: { nodeName: "node-a", containers: [{ name: "main", image: "nginx:1.27" }] },
    });
    return pod.metadata!.uid!;
  }
  const running = (name: string, ip: string) =>
    K8s(kind.Pod).PatchStatus({
      metadata: { name, namespace: "apps" },
      status: { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True" }] },
    });
  /** what the kubelet does once a graceful deletion's containers are gone */
  async function finishDeletion(name: string) {
    const res = await fetch(`${sim.url}/api/v1/namespaces/apps/pods/${name}?gracePeriodSeconds=0`, {
      method: "DELETE",
    });
    expect(res.status).toBe(200);
  }
  const slice = (name: string, ips: string[]) =>
    K8s(kind.EndpointSlice).Apply(
      makeSlice(
        "apps",
        "web",
        name,
        ips.map(ip => ({ ip })),
      ) as kind.EndpointSlice,
      { force: true },
    );

  beforeAll(async () => {
    process.env.PODINDEX_SOURCE = "pepr";
    sim = await startCluster();
    await K8s(kind.Namespace).Create({ metadata: { name: "apps" } });
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "web" },
        spec: { namespaces: ["apps"], podSelector: { matchLabels: { app: "web" } }, services: {} },
      },
      { force: true },
    );
    await createPod("early");
    await running("early", "10.44.0.1");
    await slice("web-early", ["10.44.0.1"]);
    // pod lists answer slowly while the module starts (its own and the bindings'): /readyz must wait
    const slowLists = sim.faults.add({ resource: "pods", on: "list", action: { type: "delay", ms: 2000 } });
    const { Log } = await importPepr();
    const debug = Log.debug.bind(Log);
    vi.spyOn(Log, "debug").mockImplementation((...args: unknown[]) => {
      if (args.some(a => typeof a === "string" && a.startsWith("Watch event list received"))) listLogs.push(args);
      return (debug as (...a: unknown[]) => void)(...args);
    });
    const warn = Log.warn.bind(Log);
    vi.spyOn(Log, "warn").mockImplementation((...args: unknown[]) => {
      warnings.push(args);
      return (warn as (...a: unknown[]) => void)(...args);
    });
    const mod = await startModule();
    url = mod.url;
    stop = () => mod.app.stop();
    firstReadyz = await get("/readyz");
    await eventually(async () => expect((await get("/readyz")).status).toBe(200), 20_000);
    slowLists();
    // Pepr opens its watches once its PeprStore start-up is done (up to 3 s after the start)
    await eventually(() => expect(peprWatches(sim, PODS)).toBeGreaterThanOrEqual(2), 15_000);
    await eventually(() => expect(peprWatches(sim, SLICES)).toBeGreaterThanOrEqual(2), 15_000);
  }, 60_000);

  afterAll(async () => {
    await stop?.();
    await sim?.close();
    vi.restoreAllMocks();
    delete process.env.PODINDEX_SOURCE;
  });

  it("is ready only once its first pod list is in, and then serves the pods that existed before it started", async () => {
    expect(firstReadyz.status).toBe(503);
    expect(firstReadyz.body.waitingFor).toContain("pods");
    expect(await podAt("10.44.0.1")).toMatchObject({ status: 200, body: { pod: { name: "early" } } });
    expect(await endpoints()).toEqual(["10.44.0.1"]);
  });

  it("registers two bindings per kind (creations and updates, deletions) and watches pods only through them", async () => {
    const { PodIndexCapability } = await import("../../capabilities/podindex");
    const events = (k: string) =>
      PodIndexCapability.bindings
        .filter(b => b.isWatch && b.kind.kind === k)
        .map(b => b.event)
        .sort();
    expect(events("Pod")).toEqual(["CREATEORUPDATE", "DELETE"]);
    expect(events("EndpointSlice")).toEqual(["CREATEORUPDATE", "DELETE"]);
    expect(pagedWatches(sim, PODS)).toBe(0);
    expect(pagedWatches(sim, SLICES)).toBe(0);
  });

  it("logs each list its bindings' watchers receive by its size, never serialising the list (Pepr 1.1.4 pretty-prints it)", () => {
    const pods = listLogs.filter(([fields]) => JSON.stringify(fields).includes('"items":1'));
    expect(pods.length).toBeGreaterThanOrEqual(2);
    for (const args of listLogs) {
      expect(args).toHaveLength(2);
      expect(args[0]).toEqual({ items: expect.any(Number), resourceVersion: expect.any(String) });
      expect(args[1]).toBe("Watch event list received");
    }
  });

  it("follows a pod through creation, getting an IP, relabelling and deletion", async () => {
    const uid = await createPod("web-1");
    await eventually(async () =>
      expect((await get(`/v1/pods/by-uid/${uid}`)).body.pod).toMatchObject({ name: "web-1", podIPs: [] }),
    );
    await running("web-1", "10.44.0.10");
    await eventually(async () =>
      expect(await podAt("10.44.0.10")).toMatchObject({ status: 200, body: { pod: { uid, indexes: ["web"] } } }),
    );
    await K8s(kind.Pod, { name: "web-1", namespace: "apps" }).Patch([
      { op: "replace", path: "/metadata/labels/app", value: "worker" },
    ]);
    await eventually(async () => expect((await podAt("10.44.0.10")).status).toBe(404));
    await K8s(kind.Pod, { name: "web-1", namespace: "apps" }).Patch([
      { op: "replace", path: "/metadata/labels/app", value: "web" },
    ]);
    await eventually(async () => expect((await podAt("10.44.0.10")).status).toBe(200));

    // a graceful delete only marks it (an update); once really gone (the deletion binding) nothing answers for it
    await K8s(kind.Pod).InNamespace("apps").Delete("web-1");
    await eventually(async () =>
      expect((await podAt("10.44.0.10")).body.pod?.deletionTimestamp).toEqual(expect.any(String)),
    );
    await finishDeletion("web-1");
    await eventually(async () => expect((await get(`/v1/pods/by-uid/${uid}`)).status).toBe(404));
    expect((await podAt("10.44.0.10")).status).toBe(404);
  });

  it("keeps a newer pod that reused an IP when the old pod goes, and refuses to guess while both claim it", async () => {
    await createPod("web-old");
    await running("web-old", "10.44.0.20");
    await eventually(async () => expect((await podAt("10.44.0.20")).body.pod?.name).toBe("web-old"));
    await K8s(kind.Pod).InNamespace("apps").Delete("web-old"); // terminating, still live
    const newUid = await createPod("web-new");
    await running("web-new", "10.44.0.20");
    await eventually(async () => {
      const res = await podAt("10.44.0.20");
      expect(res.status).toBe(409);
      expect(res.body.pods.map((p: { name: string }) => p.name).sort()).toEqual(["web-new", "web-old"]);
    });
    await finishDeletion("web-old");
    await eventually(async () =>
      expect(await podAt("10.44.0.20")).toMatchObject({ status: 200, body: { pod: { uid: newUid, name: "web-new" } } }),
    );
  });

  it("follows EndpointSlice updates and deletions", async () => {
    await slice("web-a", ["10.44.0.31"]);
    await eventually(async () => expect(await endpoints()).toEqual(["10.44.0.1", "10.44.0.31"]));
    await slice("web-a", ["10.44.0.32"]);
    await eventually(async () => expect(await endpoints()).toEqual(["10.44.0.1", "10.44.0.32"]));
    await K8s(kind.EndpointSlice).InNamespace("apps").Delete("web-a");
    await eventually(async () => expect(await endpoints()).toEqual(["10.44.0.1"]));
  });

  it("re-reads every pod when a PodIndex exposes a new annotation key, and keeps serving the others", async () => {
    await K8s(kind.Pod, { name: "early", namespace: "apps" }).Patch([
      { op: "add", path: "/metadata/annotations", value: { team: "blue" } },
    ]);
    await createPod("plain");
    await running("plain", "10.44.0.50");
    await eventually(async () => expect((await podAt("10.44.0.50")).status).toBe(200));
    await eventually(async () => expect((await podAt("10.44.0.1")).body.pod?.annotations).toEqual({}));
    const before = sim.requests.length;
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "web" },
        spec: {
          namespaces: ["apps"],
          podSelector: { matchLabels: { app: "web" } },
          services: {},
          expose: { annotations: ["team"] },
        },
      },
      { force: true },
    );
    // the restarted pod feed lists again (a binding does not deliver its state twice)
    await eventually(async () => expect((await podAt("10.44.0.1")).body.pod?.annotations).toEqual({ team: "blue" }));
    expect(sim.requests.slice(before).filter(r => r.path === PODS).length).toBeGreaterThanOrEqual(1);
    expect((await podAt("10.44.0.50")).body.pod?.name).toBe("plain");
  });

  it("says why a pod list cut mid-answer failed, lists again, and keeps serving", async () => {
    const from = warnings.length;
    sim.faults.add({ resource: "pods", on: "list", action: { type: "cutBody" }, times: 1 });
    // a new exposed annotation key makes the pod feed list again
    await K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "web" },
        spec: {
          namespaces: ["apps"],
          podSelector: { matchLabels: { app: "web" } },
          services: {},
          expose: { annotations: ["team", "cost-centre"] },
        },
      },
      { force: true },
    );
    const why = await eventually(() => {
      const messages = warnings.slice(from).map(([fields]) => String((fields as { err?: Error }).err?.message));
      const cut = messages.find(m => m.startsWith("listing Pods failed"));
      expect(cut).toBeDefined();
      return cut!;
    }, 15_000);
    expect(why).toMatch(/^listing Pods failed: its answer \(HTTP 200\) could not be read: \S/);
    expect(why).not.toMatch(/200 OK$/);
    await eventually(async () => expect((await get("/readyz")).status).toBe(200), 15_000);
    expect((await podAt("10.44.0.1")).body.pod?.name).toBe("early");
  });

  it("catches up after a watch outage: a pod deleted meanwhile is gone, its IP's new owner is found, and it keeps following", async () => {
    await createPod("victim");
    await running("victim", "10.44.0.40");
    await eventually(async () => expect((await podAt("10.44.0.40")).body.pod?.name).toBe("victim"));

    // the apiserver goes away (every binding's watch is cut); another one on the same etcd takes writes
    const restore = await sim.outage();
    const successorUid = replacePodBehindOutage(sim, "apps", "victim", "successor", "10.44.0.40");
    // the bindings retry every PEPR_RESYNC_DELAY_SECONDS meanwhile, far past KFC's default give-up
    // count, and lookups answer from the cache
    await new Promise(r => setTimeout(r, 7000));
    expect((await podAt("10.44.0.40")).body.pod?.name).toBe("victim");
    const beforeReturn = sim.requests.length;
    await restore();

    await eventually(
      async () =>
        expect(await podAt("10.44.0.40")).toMatchObject({
          status: 200,
          body: { pod: { name: "successor", uid: successorUid } },
        }),
      15_000,
    );
    // both bindings of each kind watch again, and a change made now applies
    await eventually(() => expect(peprWatches(sim, PODS, beforeReturn)).toBeGreaterThanOrEqual(2), 15_000);
    await eventually(() => expect(peprWatches(sim, SLICES, beforeReturn)).toBeGreaterThanOrEqual(2), 15_000);
    await createPod("after");
    await running("after", "10.44.0.42");
    await eventually(async () => expect((await podAt("10.44.0.42")).body.pod?.name).toBe("after"));
    await slice("web-after", ["10.44.0.42"]);
    await eventually(async () => expect(await endpoints()).toContain("10.44.0.42"));
    expect((await get("/readyz")).status).toBe(200);
  }, 60_000);
});

/**
 * The capability's bindings as a fresh process importing it sees them with this environment (one
 * process per module: KFC's kind registry and Pepr's watch-mode switch are process-wide). The
 * process must exit by itself: importing the capability starts nothing.
 */
async function bindingsImportedWith(env: Record<string, string | undefined>): Promise<string[]> {
  const script =
    'const { PodIndexCapability } = require("./capabilities/podindex");' +
    "console.log(JSON.stringify(PodIndexCapability.bindings.map(b => `${b.kind.kind} ${b.event}`)));";
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: resolve(__dirname, "../.."),
    env: { ...process.env, PEPR_WATCH_MODE: "true", LOG_LEVEL: "silent", ...env },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as string[];
}

describe("the default PODINDEX_SOURCE", () => {
  it("registers no Pod or EndpointSlice binding, only the PodIndex ones", async () => {
    expect((await bindingsImportedWith({ PODINDEX_SOURCE: undefined })).sort()).toEqual([
      "PodIndex CREATEORUPDATE",
      "PodIndex DELETE",
    ]);
  }, 60_000);
});
