import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { testServer } from "../../test/support/server";
import { TrustedProxies } from "../forward-auth/client-ip";
import type { Readiness } from "../readiness";

const UID = "11111111-1111-4111-8111-111111111111";
const PROXY = "10.0.0.5";

/**
 * PODINDEX_MAX_STALENESS at the routes, on a fake clock: past the bound, every answer about who a
 * pod is (IP, UID, lists, forward-auth) is refused with 503 and how stale the cache is, /readyz
 * fails, and /metrics shows each kind's staleness; a proof of freshness brings answers back.
 */
describe("routes past PODINDEX_MAX_STALENESS", () => {
  let t: number;
  let readiness: Readiness;
  let app: FastifyInstance;

  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await app.inject({ method: "GET", url, headers, remoteAddress: PROXY });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };

  beforeEach(() => {
    t = 1_700_000_000_000;
    let cache;
    ({ app, readiness, cache } = testServer(
      {
        web: {
          namespaces: ["apps"],
          services: {},
          forwardAuth: { allow: [{ namespace: "functions", from: ["apps"] }] },
        },
      },
      { now: () => t, trustedProxies: TrustedProxies.parse(PROXY) },
    ));
    cache.upsert(makePod({ name: "web-1", namespace: "apps", uid: UID, ips: ["10.42.0.10"] }));
    for (const kind of ["pods", "podindexes", "endpointslices"]) readiness.markSynced(kind);
    readiness.maxStalenessMs = 300_000;
  });
  afterEach(() => app.close());

  it("answers as usual up to the bound", async () => {
    t += 300_000;
    expect((await get("/v1/pods/by-ip/10.42.0.10")).status).toBe(200);
    expect((await get(`/v1/pods/by-uid/${UID}`)).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
  });

  it("refuses IP, UID and list lookups (podindex's and the compatibility routes) with 503 Stale, then recovers", async () => {
    t += 300_000;
    readiness.markFresh("podindexes");
    readiness.markFresh("endpointslices");
    t += 12_000;
    const message =
      "the apiserver last proved the cache current 312 s ago for pods, longer than PODINDEX_MAX_STALENESS (300 s) allows";
    expect(await get("/v1/pods/by-ip/10.42.0.10")).toMatchObject({
      status: 503,
      body: { error: "Stale", message, stale: [{ kind: "pods", seconds: 312 }], ip: "10.42.0.10" },
    });
    expect(await get(`/v1/pods/by-uid/${UID}`)).toMatchObject({ status: 503, body: { error: "Stale", message } });
    expect(await get("/v1/pods")).toMatchObject({ status: 503, body: { error: "Stale" } });
    expect(await get("/pod?ip=10.42.0.10")).toMatchObject({ status: 503, body: { error: message, reason: "Stale" } });
    expect(await get("/pods")).toMatchObject({ status: 503, body: { reason: "Stale" } });
    expect(await get(`/api/v1/pod?uid=${UID}`)).toMatchObject({ status: 503, body: { reason: "Stale" } });

    readiness.markFresh("pods");
    expect((await get("/v1/pods/by-ip/10.42.0.10")).body.pod.name).toBe("web-1");
    expect((await get("/pod?ip=10.42.0.10")).status).toBe(200);
  });

  it("refuses them too when only the PodIndexes are stale: who may see what comes from them", async () => {
    t += 200_000;
    readiness.markFresh("pods");
    readiness.markFresh("endpointslices");
    t += 100_001;
    expect(await get("/v1/pods/by-ip/10.42.0.10")).toMatchObject({
      status: 503,
      body: { error: "Stale", stale: [{ kind: "podindexes", seconds: 301 }] },
    });
  });

  it("keeps answering pod and Service lookups when only the EndpointSlices are stale, but is not ready", async () => {
    t += 200_000;
    readiness.markFresh("pods");
    readiness.markFresh("podindexes");
    t += 100_001;
    expect((await get("/v1/pods/by-ip/10.42.0.10")).status).toBe(200);
    expect((await get("/v1/services/apps/web/endpoints")).body.error).toBe("NotFound");
    expect((await get("/readyz")).body.stale).toEqual([{ kind: "endpointslices", seconds: 301 }]);
  });

  it("/readyz and /ready answer 503 naming each stale kind and how stale, at request time", async () => {
    t += 100_000;
    readiness.markFresh("endpointslices");
    t += 250_000;
    expect(await get("/readyz")).toMatchObject({
      status: 503,
      body: {
        status: "stale",
        reason:
          "the apiserver last proved the cache current 350 s ago for pods, 350 s ago for podindexes, " +
          "longer than PODINDEX_MAX_STALENESS (300 s) allows",
        stale: [
          { kind: "pods", seconds: 350 },
          { kind: "podindexes", seconds: 350 },
        ],
        pods: 1,
      },
    });
    expect(await get("/ready")).toMatchObject({
      status: 503,
      body: { status: "not ready", pod_count: 1, podCount: 1 },
    });
    readiness.markFresh("pods");
    readiness.markFresh("podindexes");
    expect((await get("/readyz")).status).toBe(200);
    expect((await get("/ready")).status).toBe(200);
  });

  it("forward-auth fails closed with 503 Stale, says so in X-Podindex-Reason and the body, and counts it", async () => {
    const ask = () => get("/v1/forward-auth?namespace=apps&name=hello", { "x-forwarded-for": "10.42.0.10" });
    expect((await ask()).status).toBe(200);
    t += 301_000;
    const res = await ask();
    expect(res.status).toBe(503);
    expect(res.headers["x-podindex-reason"]).toBe("Stale");
    expect(res.headers["x-podindex-pod-name"]).toBeUndefined();
    expect(res.body).toMatchObject({
      allowed: false,
      reason: "Stale",
      message:
        "the apiserver last proved the cache current 301 s ago for pods, 301 s ago for podindexes, " +
        "longer than PODINDEX_MAX_STALENESS (300 s) allows",
    });
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(metrics).toContain('podindex_forward_auth_decisions_total{podindex="",result="deny",reason="Stale"} 1');
    readiness.markFresh("pods");
    readiness.markFresh("podindexes");
    expect((await ask()).status).toBe(200);
  });

  it("/metrics shows each kind's staleness computed when scraped, and the bound", async () => {
    t += 42_500;
    readiness.markFresh("endpointslices");
    t += 1_000;
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    expect(metrics).toContain('podindex_staleness_seconds{kind="pods"} 43.5');
    expect(metrics).toContain('podindex_staleness_seconds{kind="podindexes"} 43.5');
    expect(metrics).toContain('podindex_staleness_seconds{kind="endpointslices"} 1');
    expect(metrics).toContain("podindex_max_staleness_seconds 300");
    t += 1_000;
    expect((await app.inject({ method: "GET", url: "/metrics" })).body).toContain(
      'podindex_staleness_seconds{kind="pods"} 44.5',
    );
  });
});
