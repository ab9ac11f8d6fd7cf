import { afterEach, describe, expect, it } from "vitest";
import { callApi } from "./transcript";
import { eventually } from "../support/module";
import { makeSlice } from "../support/slices";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";

/** The simulated EndpointSlice controller (startApiServer's `endpointSliceController`). */
describe("EndpointSlice controller", () => {
  let sim: SimulatedApiServer;
  afterEach(() => sim.close());

  const call = (method: string, path: string, body?: unknown, contentType?: string) =>
    callApi(sim.url, method, path, body, contentType);
  const pod = async (name: string, labels: Record<string, string>, ip: string, ready: boolean, phase = "Running") => {
    const made = await call("POST", "/api/v1/namespaces/apps/pods", {
      metadata: { name, labels },
      spec: {
        nodeName: "node-a",
        containers: [{ name: "c", image: "nginx", ports: [{ name: "web", containerPort: 8080 }] }],
      },
    });
    await call(
      "PATCH",
      `/api/v1/namespaces/apps/pods/${name}/status`,
      {
        status: {
          phase,
          podIP: ip,
          podIPs: [{ ip }],
          conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
        },
      },
      "application/merge-patch+json",
    );
    return made.body;
  };
  const slices = () => sim.list("discovery.k8s.io/v1", "EndpointSlice", "apps");
  const endpoints = () =>
    Object.fromEntries(
      slices().flatMap(s =>
        (s.endpoints ?? []).map((e: KObject) => [e.targetRef.name, { ip: e.addresses[0], ...e.conditions }]),
      ),
    );

  it("keeps one slice per Service from its selector over the namespace's pods, following pod changes and deletions", async () => {
    sim = await startApiServer({ endpointSliceController: true });
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "apps" } });
    const web1 = await pod("web-1", { app: "web" }, "10.42.0.1", true);
    await pod("web-2", { app: "web" }, "10.42.0.2", false);
    await pod("done", { app: "web" }, "10.42.0.3", false, "Succeeded");
    await pod("db", { app: "db" }, "10.42.0.4", true);
    const svc = await call("POST", "/api/v1/namespaces/apps/services", {
      metadata: { name: "web" },
      spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "web" }] },
    });
    await eventually(() =>
      expect(endpoints()).toEqual({
        "web-1": { ip: "10.42.0.1", ready: true, serving: true, terminating: false },
        "web-2": { ip: "10.42.0.2", ready: false, serving: false, terminating: false },
      }),
    );
    const [slice] = slices();
    expect(slice).toMatchObject({
      metadata: {
        name: expect.stringMatching(/^web-[a-z0-9]{5}$/),
        labels: {
          "kubernetes.io/service-name": "web",
          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
        ownerReferences: [{ kind: "Service", name: "web", uid: svc.body.metadata.uid, controller: true }],
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
    expect(slice.endpoints[0]).toMatchObject({
      nodeName: "node-a",
      targetRef: { kind: "Pod", namespace: "apps", uid: web1.metadata.uid },
    });

    await call("DELETE", "/api/v1/namespaces/apps/pods/web-1"); // graceful: terminating, still serving
    await eventually(() =>
      expect(endpoints()["web-1"]).toEqual({ ip: "10.42.0.1", ready: false, serving: true, terminating: true }),
    );
    await call("DELETE", "/api/v1/namespaces/apps/pods/web-1?gracePeriodSeconds=0");
    await eventually(() => expect(Object.keys(endpoints())).toEqual(["web-2"]));
    expect(slices().map(s => s.metadata.name)).toEqual([slice.metadata.name]); // the same slice, updated

    await call("DELETE", "/api/v1/namespaces/apps/services/web");
    await eventually(() => expect(slices()).toEqual([]));
  });

  it("leaves slices alone that no Service it manages owns", async () => {
    sim = await startApiServer({ endpointSliceController: true });
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "apps" } });
    const mine = makeSlice("apps", "api", "api-abcde", [{ ip: "10.42.0.9", pod: "api-1" }]);
    await call("POST", "/apis/discovery.k8s.io/v1/namespaces/apps/endpointslices", mine);
    await call("POST", "/api/v1/namespaces/apps/services", {
      metadata: { name: "web" },
      spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
    });
    await eventually(() =>
      expect(
        slices()
          .map(s => s.metadata.labels["kubernetes.io/service-name"])
          .sort(),
      ).toEqual(["api", "web"]),
    );
    await call("DELETE", "/api/v1/namespaces/apps/services/web");
    await eventually(() => expect(slices().map(s => s.metadata.name)).toEqual(["api-abcde"]));
  });

  it("is off by default: slices are only those a test writes", async () => {
    sim = await startApiServer();
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "apps" } });
    await pod("web-1", { app: "web" }, "10.42.0.1", true);
    await call("POST", "/api/v1/namespaces/apps/services", {
      metadata: { name: "web" },
      spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
    });
    await new Promise(r => setImmediate(r)); // the controller would have reconciled by now
    expect(slices()).toEqual([]);
  });
});
