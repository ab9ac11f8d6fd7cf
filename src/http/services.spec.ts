import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { testServer } from "../../test/support/server";
import { makeSlice, podUid } from "../../test/support/slices";
import type { PodCache } from "../cache/pod-cache";
import type { EndpointCache } from "../endpoints/endpoint-cache";
import type { ViewSet } from "../views/view-set";

describe("Service routes", () => {
  let endpoints: EndpointCache;
  let sync: () => void;
  let views: ViewSet;
  let app: FastifyInstance;

  const get = async (url: string) => {
    const res = await app.inject({ method: "GET", url });
    return { status: res.statusCode, body: res.json() };
  };

  beforeEach(() => {
    let cache: PodCache;
    ({ app, endpoints, sync, cache, views } = testServer(
      {
        apps: { namespaces: ["apps"], services: {} },
        "only-web": {
          namespaces: ["apps"],
          services: { selector: { matchLabels: { "kubernetes.io/service-name": "web" } } },
        },
        "pods-only": { namespaces: ["apps", "batch"] },
      },
      { defaultService: { namespace: "apps", name: "web" } },
    ));
    cache.upsert(makePod({ name: "web-1", namespace: "apps", uid: podUid("web-1"), ips: ["10.42.0.10"] }));
    // two slices, one endpoint moving from the first to the second, one terminating, one not ready
    endpoints.upsert(
      makeSlice("apps", "web", "web-a", [
        { ip: "10.42.0.10", pod: "web-1", zone: "zone-a" },
        { ip: "10.42.0.11", pod: "web-2", ready: false, serving: true, terminating: true },
      ]),
    );
    endpoints.upsert(
      makeSlice("apps", "web", "web-b", [
        { ip: "10.42.0.12", pod: "web-3", ready: false, node: "node-b" },
        { ip: "10.42.0.13", pod: "web-4" },
      ]),
    );
    endpoints.upsert(
      makeSlice("apps", "api", "api-a", [{ ip: "10.42.0.20", pod: "web-1" }], {
        ports: [{ name: "grpc", port: 9090 }],
      }),
    );
    endpoints.upsert(makeSlice("batch", "jobs", "jobs-a", [{ ip: "10.42.1.1", pod: "job-1" }]));
  });
  afterEach(() => app.close());

  it("answers 503 before the initial lists, 400 for malformed names", async () => {
    expect((await get("/v1/services/apps/web/endpoints")).status).toBe(503);
    expect((await get("/endpoints?namespace=apps&service=web")).status).toBe(503);
    sync();
    expect((await get("/v1/services/Apps/web/endpoints")).status).toBe(400);
    expect((await get("/endpoints?namespace=apps&service=web_1")).body).toEqual({
      error: '"web_1" is not a Service name',
      reason: "BadRequest",
    });
  });

  describe("when synced", () => {
    beforeEach(() => {
      sync();
    });

    it("lists every endpoint of the union of a Service's slices with its conditions, pod, node, zone and ports", async () => {
      const res = await get("/v1/services/apps/web/endpoints");
      expect(res.status).toBe(200);
      expect(res.body.indexes).toEqual(["apps", "only-web"]);
      expect(res.body.counts).toEqual({ endpoints: 4, ready: 2, serving: 3, terminating: 1 });
      expect(res.body.endpoints[0]).toEqual({
        addresses: ["10.42.0.10"],
        addressType: "IPv4",
        conditions: { ready: true, serving: true, terminating: false },
        pod: { name: "web-1", namespace: "apps", uid: podUid("web-1") },
        nodeName: "node-a",
        zone: "zone-a",
        hostname: null,
        ports: [{ name: "http", port: 8080, protocol: "TCP", appProtocol: null }],
        slice: "web-a",
      });
      expect(res.body.endpoints.map((e: { addresses: string[] }) => e.addresses[0])).toEqual([
        "10.42.0.10",
        "10.42.0.11",
        "10.42.0.12",
        "10.42.0.13",
      ]);
    });

    it("serves kubernetes-pod-discovery's Endpoints shape: ready in addresses, not ready in notReadyAddresses, terminating left out", async () => {
      const res = await get("/endpoints?namespace=apps&service=web");
      expect(res).toEqual({
        status: 200,
        body: {
          kind: "Endpoints",
          apiVersion: "v1",
          metadata: { name: "web", namespace: "apps" },
          subsets: [
            {
              addresses: [
                {
                  ip: "10.42.0.10",
                  nodeName: "node-a",
                  targetRef: { kind: "Pod", namespace: "apps", name: "web-1", uid: podUid("web-1") },
                },
                {
                  ip: "10.42.0.13",
                  nodeName: "node-a",
                  targetRef: { kind: "Pod", namespace: "apps", name: "web-4", uid: podUid("web-4") },
                },
              ],
              notReadyAddresses: [
                {
                  ip: "10.42.0.12",
                  nodeName: "node-b",
                  targetRef: { kind: "Pod", namespace: "apps", name: "web-3", uid: podUid("web-3") },
                },
              ],
              ports: [{ name: "http", port: 8080, protocol: "TCP" }],
            },
          ],
        },
      });
      // with no query, the Service named by KUBERNETES_POD_DISCOVERY_* (as the sidecar was configured)
      expect((await get("/endpoints")).body).toEqual(res.body);
    });

    it("follows only the slices a PodIndex selects, in its namespaces, scoped by ?index=", async () => {
      expect((await get("/v1/services/apps/api/endpoints")).body.indexes).toEqual(["apps"]);
      expect((await get("/v1/services/apps/api/endpoints?index=only-web")).status).toBe(404);
      expect((await get("/v1/services/apps/api/endpoints?index=nope")).body.error).toBe("IndexNotFound");
      views.refuse("only-web", "spec.services.selector: Invalid value");
      expect(await get("/v1/services/apps/api/endpoints?index=only-web")).toEqual({
        status: 404,
        body: {
          error: "IndexNotServed",
          message: 'PodIndex "only-web" exists but is not served: spec.services.selector: Invalid value',
          index: "only-web",
        },
      });
      expect((await get("/endpoints?namespace=apps&service=api&index=only-web")).body).toEqual({
        error: 'PodIndex "only-web" exists but is not served: spec.services.selector: Invalid value',
        reason: "IndexNotServed",
      });
      // batch is no PodIndex's followed namespace (pods-only has no spec.services)
      const batch = await get("/endpoints?namespace=batch&service=jobs");
      expect(batch).toEqual({
        status: 404,
        body: { error: "no followed EndpointSlice belongs to Service batch/jobs", reason: "NotFound" },
      });
    });

    it("shows in pod lookups the Services a pod backs, and whether it is ready in each", async () => {
      const res = await get("/v1/pods/by-ip/10.42.0.10");
      expect(res.body.pod.services).toEqual([
        { namespace: "apps", name: "api", ready: true },
        { namespace: "apps", name: "web", ready: true },
      ]);
      // scoped to a PodIndex that follows only web
      expect((await get("/v1/pods/by-ip/10.42.0.10?index=only-web")).body.pod.services).toEqual([
        { namespace: "apps", name: "web", ready: true },
      ]);
      expect((await get("/v1/pods/by-ip/10.42.0.10?index=pods-only")).body.pod.services).toEqual([]);
    });
  });
});
