import type { FastifyInstance } from "fastify";
import { connect } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { testServer } from "../../test/support/server";
import type { PodCache } from "../cache/pod-cache";
import { Metrics } from "../metrics";
import type { Readiness } from "../readiness";
import type { ViewSet } from "../views/view-set";

describe("lookup server", () => {
  let cache: PodCache;
  let readiness: Readiness;
  let views: ViewSet;
  let app: FastifyInstance;

  const get = async (url: string) => {
    const res = await app.inject({ method: "GET", url });
    return { status: res.statusCode, body: res.json() };
  };

  beforeEach(() => {
    ({ app, cache, readiness, views } = testServer(
      {
        apps: { namespaces: ["apps"], expose: { labels: ["app"], annotations: ["team"] } },
        fn: { namespaces: ["functions"] },
      },
      {
        kinds: ["pods", "podindexes"],
        metrics: c =>
          new Metrics({
            pods: () => c.size,
            summaries: () => new Map([["apps", { pods: 1, ips: 2, conflicts: 0, namespaces: 1 }]]),
            sinks: () => new Map(),
          }),
        statuses: () => new Map([["apps", { observedGeneration: 1, pods: 1, ips: 2, conflicts: 0, namespaces: 1 }]]),
      },
    ));
  });
  afterEach(() => app.close());

  const web = () =>
    makePod({
      name: "web-1",
      uid: "11111111-1111-4111-8111-111111111111",
      labels: { app: "web", tier: "frontend" },
      annotations: { team: "storefront", secret: "hunter2" },
      ips: ["10.42.0.10", "fd00:42::10"],
    });

  describe("before the initial lists are in", () => {
    it("is alive but not ready, and says what it waits for", async () => {
      cache.upsert(web());
      readiness.markSynced("pods");
      expect(await get("/healthz")).toEqual({ status: 200, body: { status: "ok" } });
      expect(await get("/readyz")).toEqual({
        status: 503,
        body: {
          status: "not ready",
          reason: "waiting for the initial list of podindexes",
          waitingFor: ["podindexes"],
          pods: 1,
        },
      });
      expect(await get("/ready")).toEqual({ status: 503, body: { status: "not ready", pod_count: 1, podCount: 1 } });
    });

    it("answers no lookup (503) rather than a wrong 404", async () => {
      cache.upsert(web());
      const res = await get("/v1/pods/by-ip/10.42.0.10");
      expect(res.status).toBe(503);
      expect(res.body.error).toBe("NotReady");
      expect((await get("/pod?ip=10.42.0.10")).status).toBe(503);
      expect((await get("/api/v1/pod?uid=11111111-1111-4111-8111-111111111111")).status).toBe(503);
    });
  });

  describe("when synced", () => {
    beforeEach(() => {
      readiness.markSynced("pods");
      readiness.markSynced("podindexes");
      cache.upsert(web());
    });

    it("/readyz and /ready report ready with the pod count", async () => {
      expect(await get("/readyz")).toEqual({ status: 200, body: { status: "ready", pods: 1 } });
      expect(await get("/ready")).toEqual({ status: 200, body: { status: "ready", pod_count: 1, podCount: 1 } });
      expect(await get("/health")).toEqual({ status: 200, body: { status: "healthy", pod_count: 1, podCount: 1 } });
    });

    it("while draining, /readyz and /ready answer 503 (shutting down) and lookups still answer", async () => {
      readiness.draining = true;
      expect(await get("/readyz")).toEqual({
        status: 503,
        body: { status: "not ready", reason: "shutting down", pods: 1 },
      });
      expect(await get("/ready")).toEqual({ status: 503, body: { status: "not ready", pod_count: 1, podCount: 1 } });
      expect((await get("/v1/pods/by-ip/10.42.0.10")).status).toBe(200);
      expect((await get("/healthz")).status).toBe(200);
    });

    it("finds a pod by IP with only the exposed metadata", async () => {
      const res = await get("/v1/pods/by-ip/10.42.0.10");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        ip: "10.42.0.10",
        pod: {
          uid: "11111111-1111-4111-8111-111111111111",
          name: "web-1",
          namespace: "apps",
          labels: { app: "web" },
          annotations: { team: "storefront" },
          owners: [{ kind: "ReplicaSet", name: "web-5d4c" }],
          serviceAccountName: "web",
          nodeName: "node-a",
          hostIP: "10.0.0.11",
          podIPs: ["10.42.0.10", "fd00:42::10"],
          hostNetwork: false,
          phase: "Running",
          ready: true,
          creationTimestamp: "2026-11-25T01:00:00Z",
          deletionTimestamp: null,
          indexes: ["apps"],
          services: [],
        },
      });
    });

    it("finds a pod by any spelling of its IPv6 address, and by IPv4-mapped IPv6", async () => {
      expect((await get("/v1/pods/by-ip/FD00:0042:0000:0000:0000:0000:0000:0010")).body.pod.name).toBe("web-1");
      expect((await get(`/v1/pods/by-ip/${encodeURIComponent("::ffff:10.42.0.10")}`)).body.pod.name).toBe("web-1");
    });

    it("rejects a malformed IP or UID with 400 and a JSON reason", async () => {
      for (const url of [
        "/v1/pods/by-ip/10.42.0",
        "/v1/pods/by-ip/not-an-ip",
        "/v1/pods/by-ip/10.42.0.10%2F24",
        "/v1/pods/by-uid/xyz",
      ]) {
        const res = await get(url);
        expect(res.status, url).toBe(400);
        expect(res.body.error, url).toBe("BadRequest");
        expect(res.body.message, url).toMatch(/not a valid/);
      }
    });

    it("404s an unknown IP and says why for terminal and hostNetwork pods", async () => {
      cache.upsert(makePod({ name: "job-1", ips: ["10.42.0.60"], phase: "Succeeded" }));
      cache.upsert(makePod({ name: "exporter", ips: ["10.0.0.11"], hostNetwork: true }));
      expect(await get("/v1/pods/by-ip/10.42.9.9")).toMatchObject({
        status: 404,
        body: { error: "NotFound", reason: "unknown" },
      });
      expect(await get("/v1/pods/by-ip/10.42.0.60")).toMatchObject({ status: 404, body: { reason: "terminal" } });
      expect(await get("/v1/pods/by-ip/10.0.0.11")).toMatchObject({ status: 404, body: { reason: "hostNetwork" } });
    });

    it("does not serve pods no PodIndex selects", async () => {
      cache.upsert(makePod({ name: "coredns", namespace: "kube-system", ips: ["10.42.0.2"] }));
      expect((await get("/v1/pods/by-ip/10.42.0.2")).status).toBe(404);
    });

    it("answers 409 with both pods when two live pods claim one IP", async () => {
      cache.upsert(makePod({ name: "web-2", ips: ["10.42.0.10"] }));
      const res = await get("/v1/pods/by-ip/10.42.0.10");
      expect(res.status).toBe(409);
      expect(res.body.error).toBe("Conflict");
      expect(res.body.pods.map((p: { name: string }) => p.name).sort()).toEqual(["web-1", "web-2"]);
      expect(res.body.hidden).toBe(0);
    });

    it("still refuses (409) when the second claimant is a pod it does not serve, without showing it", async () => {
      cache.upsert(makePod({ name: "intruder", namespace: "kube-system", ips: ["10.42.0.10"] }));
      const res = await get("/v1/pods/by-ip/10.42.0.10");
      expect(res.status).toBe(409);
      expect(res.body.pods.map((p: { name: string }) => p.name)).toEqual(["web-1"]);
      expect(res.body.hidden).toBe(1);
    });

    it("scopes a lookup to one PodIndex with ?index=", async () => {
      expect((await get("/v1/pods/by-ip/10.42.0.10?index=apps")).status).toBe(200);
      expect(await get("/v1/pods/by-ip/10.42.0.10?index=fn")).toMatchObject({
        status: 404,
        body: { reason: "unknown" },
      });
      expect(await get("/v1/pods/by-ip/10.42.0.10?index=nope")).toMatchObject({
        status: 404,
        body: { error: "IndexNotFound" },
      });
    });

    it("says a PodIndex named by ?index= exists but is not served, and why", async () => {
      const why = 'spec.namespaces[0]: Invalid value: "Bad_NS": a namespace must be a DNS label';
      views.refuse("apps", why);
      const expected = {
        status: 404,
        body: {
          error: "IndexNotServed",
          message: `PodIndex "apps" exists but is not served: ${why}`,
          index: "apps",
        },
      };
      expect(await get("/v1/pods/by-ip/10.42.0.10?index=apps")).toEqual({
        ...expected,
        body: { ...expected.body, ip: "10.42.0.10" },
      });
      expect(await get("/v1/pods?index=apps")).toEqual(expected);
      expect((await get("/v1/pods/by-ip/10.42.0.10")).status).toBe(404); // no longer served without ?index= either
    });

    it("finds a pod by UID, case-insensitively", async () => {
      const res = await get(
        "/v1/pods/by-uid/11111111-1111-4111-8111-111111111111"
          .toUpperCase()
          .replace("/V1/PODS/BY-UID", "/v1/pods/by-uid"),
      );
      // (the UID part is upper-case; Kubernetes UIDs are lower-case)
      expect(res.status).toBe(200);
      expect(res.body.pod.name).toBe("web-1");
      expect((await get("/v1/pods/by-uid/22222222-2222-4222-8222-222222222222")).status).toBe(404);
    });

    it("lists served pods, optionally by namespace and index", async () => {
      cache.upsert(makePod({ name: "hello", namespace: "functions", ips: ["10.42.0.20"] }));
      cache.upsert(makePod({ name: "coredns", namespace: "kube-system", ips: ["10.42.0.2"] }));
      const all = await get("/v1/pods");
      expect(all.body.count).toBe(2);
      // sorted by namespace, then name: apps/web-1 before functions/hello
      expect(all.body.items.map((p: { name: string }) => p.name)).toEqual(["web-1", "hello"]);
      expect((await get("/v1/pods?namespace=apps")).body.items.map((p: { name: string }) => p.name)).toEqual(["web-1"]);
      expect((await get("/v1/pods?index=fn")).body.items.map((p: { name: string }) => p.name)).toEqual(["hello"]);
      expect((await get("/v1/pods?namespace=Bad_NS")).status).toBe(400);
    });

    it("answers another method on a route with 405 and Allow, and an unknown path with a JSON 404", async () => {
      const res = await app.inject({ method: "POST", url: "/v1/pods/by-ip/10.42.0.10?index=apps" });
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe("GET, HEAD");
      expect(res.json()).toEqual({
        error: "MethodNotAllowed",
        message: "POST is not allowed on /v1/pods/by-ip/10.42.0.10: it answers GET and HEAD",
      });
      expect(await get("/nope?x=1")).toEqual({
        status: 404,
        body: { error: "NotFound", message: "no route GET /nope" },
      });
      expect((await app.inject({ method: "DELETE", url: "/nope" })).statusCode).toBe(404);
    });

    it("counts lookups by route and result, with their latency, on /metrics", async () => {
      await get("/v1/pods/by-ip/10.42.0.10");
      await get("/v1/pods/by-ip/10.42.9.9");
      await get("/v1/pods/by-ip/bogus");
      await get("/pod?ip=10.42.0.10");
      const res = await app.inject({ method: "GET", url: "/metrics" });
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0.0.4/);
      expect(res.body).toContain('podindex_lookups_total{route="by-ip",result="hit"} 1');
      expect(res.body).toContain('podindex_lookups_total{route="by-ip",result="miss"} 1');
      expect(res.body).toContain('podindex_lookups_total{route="by-ip",result="bad_request"} 1');
      expect(res.body).toContain('podindex_lookups_total{route="compat-pod",result="hit"} 1');
      expect(res.body).toContain('podindex_lookup_duration_seconds_count{route="by-ip"} 3');
      expect(res.body).toContain("podindex_cached_pods 1");
      expect(res.body).toContain('podindex_indexed_pods{podindex="apps"} 1');
    });

    it("serves each PodIndex's summary on /v1/indexes and /v1/indexes/:name", async () => {
      expect(await get("/v1/indexes")).toEqual({
        status: 200,
        body: {
          items: [{ name: "apps", status: { observedGeneration: 1, pods: 1, ips: 2, conflicts: 0, namespaces: 1 } }],
          count: 1,
        },
      });
      expect((await get("/v1/indexes/apps")).body.status.pods).toBe(1);
      expect(await get("/v1/indexes/nope")).toMatchObject({ status: 404, body: { error: "IndexNotFound" } });
    });

    describe("pod-watcher compatible routes", () => {
      it("GET /pod?ip= answers in pod-watcher's shape", async () => {
        const res = await get("/pod?ip=10.42.0.10");
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({
          name: "web-1",
          namespace: "apps",
          uid: "11111111-1111-4111-8111-111111111111",
          labels: { app: "web" },
          annotations: { team: "storefront" },
          node_name: "node-a",
          phase: "Running",
          pod_ip: "10.42.0.10",
          host_ip: "10.0.0.11",
          conditions: [{ type: "Ready", status: "True" }],
        });
      });

      it("GET /pod keeps pod-watcher's errors", async () => {
        expect(await get("/pod")).toEqual({ status: 400, body: { error: "IP parameter is required" } });
        expect(await get("/pod?ip=10.42.9.9")).toMatchObject({
          status: 404,
          body: { error: "No pod found with IP 10.42.9.9" },
        });
      });

      it("GET /pods?namespace= is a map keyed by pod IP with a count", async () => {
        cache.upsert(makePod({ name: "hello", namespace: "functions", ips: ["10.42.0.20"] }));
        const res = await get("/pods?namespace=apps");
        expect(res.status).toBe(200);
        expect(Object.keys(res.body.pods).sort()).toEqual(["10.42.0.10", "fd00:42::10"]);
        expect(res.body.count).toBe(2);
        expect(res.body.pods["10.42.0.10"].name).toBe("web-1");
        expect((await get("/pods")).body.count).toBe(3);
      });
    });

    describe("pod-index compatible route", () => {
      it("GET /api/v1/pod?uid= answers in pod-index's shape", async () => {
        expect(await get("/api/v1/pod?uid=11111111-1111-4111-8111-111111111111")).toEqual({
          status: 200,
          body: {
            uid: "11111111-1111-4111-8111-111111111111",
            name: "web-1",
            namespace: "apps",
            nodeName: "node-a",
            phase: "Running",
            podIP: "10.42.0.10",
            labels: { app: "web" },
            annotations: { team: "storefront" },
            createdAt: "2026-11-25T01:00:00Z",
          },
        });
      });

      it("keeps pod-index's 404 message", async () => {
        const uid = "22222222-2222-4222-8222-222222222222";
        expect(await get(`/api/v1/pod?uid=${uid}`)).toEqual({
          status: 404,
          body: { error: `pod with UID ${uid} not found` },
        });
        expect((await get("/api/v1/pod")).status).toBe(400);
      });
    });
  });

  describe("requests refused before any route (raw bytes on a real socket)", () => {
    let port: number;
    beforeEach(async () => {
      readiness.markSynced("pods");
      readiness.markSynced("podindexes");
      await app.listen({ port: 0, host: "127.0.0.1" });
      port = (app.server.address() as { port: number }).port;
    });

    /** Send these exact bytes, half-close, and parse what the server wrote back (interim 1xx answers apart). */
    const raw = (bytes: string) =>
      new Promise<{ interim: string[]; statusLine: string; headers: Record<string, string>; body: unknown }>(
        (resolve, reject) => {
          const socket = connect(port, "127.0.0.1");
          const chunks: Buffer[] = [];
          socket.on("data", c => chunks.push(c));
          socket.on("error", reject);
          socket.on("close", () => {
            let text = Buffer.concat(chunks).toString("latin1");
            const interim: string[] = [];
            while (/^HTTP\/1\.1 1\d\d /.test(text)) {
              interim.push(text.slice(0, text.indexOf("\r\n")));
              text = text.slice(text.indexOf("\r\n\r\n") + 4);
            }
            const end = text.indexOf("\r\n\r\n");
            if (end < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(text)}`));
            const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
            const headers = Object.fromEntries(
              lines.map(l => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
            );
            const body = text.slice(end + 4, end + 4 + Number(headers["content-length"]));
            resolve({ interim, statusLine, headers, body: JSON.parse(body) });
          });
          socket.end(Buffer.from(bytes, "latin1"));
        },
      );

    const refused = (statusLine: string, error: string, message: RegExp) => ({
      statusLine,
      headers: expect.objectContaining({ "content-type": "application/json; charset=utf-8" }),
      body: expect.objectContaining({ error, message: expect.stringMatching(message) }),
    });

    it("refuses CONNECT with 405 instead of dropping the connection", async () => {
      const res = await raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
      expect(res).toMatchObject(refused("HTTP/1.1 405 Method Not Allowed", "MethodNotAllowed", /CONNECT.*not a proxy/));
      expect(res.headers.allow).toBe("GET, HEAD");
    });

    it.each([
      [
        "a lower-case method",
        "get /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "HPE_INVALID_METHOD",
        /not a valid HTTP method/,
      ],
      [
        "an overlong method",
        `${"GET".repeat(12)} /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
        "HPE_INVALID_METHOD",
        /method/,
      ],
      [
        "a duplicate Content-Length",
        "POST /v1/pods HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HPE_UNEXPECTED_CONTENT_LENGTH",
        /more than one Content-Length.*Duplicate Content-Length/,
      ],
      [
        "a bad chunk size",
        "POST /v1/pods HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        "HPE_INVALID_CHUNK_SIZE",
        /chunk size/,
      ],
      [
        "a control character in the path",
        "GET /v1/\x01pods HTTP/1.1\r\nHost: x\r\n\r\n",
        "HPE_INVALID_URL",
        /URL may not/,
      ],
      ["NUL in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "HPE_INVALID_HEADER_TOKEN", /NUL/],
      ["a bad HTTP version", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", "HPE_INVALID_VERSION", /HTTP version/],
    ])("refuses %s with 400 and says what was wrong", async (_what, bytes, code, message) => {
      const res = await raw(bytes);
      expect(res).toMatchObject(refused("HTTP/1.1 400 Bad Request", "BadRequest", message));
      expect(res.body).toMatchObject({ code });
      expect(res.headers.connection).toBe("close");
    });

    it("refuses headers over Node's limit with 431", async () => {
      const res = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${"a".repeat(20_000)}\r\n\r\n`);
      expect(res).toMatchObject(
        refused("HTTP/1.1 431 Request Header Fields Too Large", "HeadersTooLarge", /limit of \d+ bytes/),
      );
    });

    it("refuses an HTTP/1.1 request without Host with 400 (HTTP/1.0 needs none)", async () => {
      expect(await raw("GET /healthz HTTP/1.1\r\n\r\n")).toMatchObject(
        refused("HTTP/1.1 400 Bad Request", "BadRequest", /must carry a Host header/),
      );
      expect(await raw("GET /healthz HTTP/1.0\r\n\r\n")).toMatchObject({
        statusLine: "HTTP/1.1 200 OK",
        body: { status: "ok" },
      });
    });

    it("refuses an unknown Expect with 417 and still serves Expect: 100-continue", async () => {
      expect(await raw("GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n")).toMatchObject(
        refused("HTTP/1.1 417 Expectation Failed", "ExpectationFailed", /Expect: foo cannot be met/),
      );
      expect(await raw("GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n")).toMatchObject({
        interim: ["HTTP/1.1 100 Continue"],
        statusLine: "HTTP/1.1 200 OK",
        body: { status: "ok" },
      });
    });

    it("answers a wrong method on a real route with 405 over the wire too", async () => {
      const res = await raw("DELETE /v1/pods/by-uid/11111111-1111-4111-8111-111111111111 HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(res).toMatchObject(refused("HTTP/1.1 405 Method Not Allowed", "MethodNotAllowed", /answers GET and HEAD/));
    });
  });
});
