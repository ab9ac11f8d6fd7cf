import type { FastifyInstance } from "fastify";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { podIndex, testServer } from "../../test/support/server";
import type { PodCache } from "../cache/pod-cache";
import { TrustedProxies } from "../forward-auth/client-ip";
import type { PodIndexSpec } from "../kinds/podindex";
import type { Readiness } from "../readiness";
import { PodIndexView } from "../views/view";
import type { ViewSet } from "../views/view-set";

/** The proxy podindex trusts; everything else calling it is a caller. */
const PROXY = "10.0.0.5";

const FISSION: PodIndexSpec = {
  namespaces: ["apps", "functions", "default"],
  forwardAuth: {
    allow: [{ namespace: "functions", from: ["apps"] }],
    target: {
      patterns: [
        { header: "X-Forwarded-Uri", regex: "^/fission-function/(?<namespace>[^/?]+)/(?<name>[^/?]+)" },
        { header: "X-Forwarded-Uri", regex: "^/fission-function/(?<name>[^/?]+)", namespace: "default" },
      ],
    },
    // "constructor" is no pod's label: an inherited key must not reach X-Podindex-Labels
    headers: { labels: ["app", "team", "constructor"] },
  },
};

describe("GET /v1/forward-auth", () => {
  let views: ViewSet;
  let cache: PodCache;
  let readiness: Readiness;
  let app: FastifyInstance;
  let logLines: Record<string, unknown>[];

  beforeEach(() => {
    logLines = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    ({ app, views, cache, readiness } = testServer(
      { fission: FISSION, "lookups-only": {} },
      {
        kinds: ["pods", "podindexes"],
        trustedProxies: TrustedProxies.parse(`${PROXY} fd00:1::5`),
        logger: pino({ level: "info" }, sink),
      },
    ));
  });
  afterEach(() => app.close());

  const call = async (
    url: string,
    opts: { from?: string; xff?: string; uri?: string; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.xff !== undefined) headers["x-forwarded-for"] = opts.xff;
    if (opts.uri !== undefined) headers["x-forwarded-uri"] = opts.uri;
    const res = await app.inject({ method: "GET", url, headers, remoteAddress: opts.from ?? PROXY });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };

  const sync = () => {
    readiness.markSynced("pods");
    readiness.markSynced("podindexes");
  };

  const addPods = () => {
    cache.upsert(
      makePod({
        name: "web-1",
        namespace: "apps",
        uid: "11111111-1111-4111-8111-111111111111",
        labels: { app: "web", team: "storefront", secret: "x" },
        ips: ["10.42.0.10", "fd00:42::10"],
      }),
    );
    cache.upsert(
      makePod({ name: "fn-report", namespace: "functions", ips: ["10.42.0.20"], labels: { app: "report" } }),
    );
    cache.upsert(makePod({ name: "prom", namespace: "monitoring", ips: ["10.42.0.30"] }));
    cache.upsert(makePod({ name: "batch", namespace: "default", ips: ["10.42.0.40"] }));
    cache.upsert(makePod({ name: "node-agent", namespace: "apps", ips: ["10.0.0.11"], hostNetwork: true }));
    cache.upsert(makePod({ name: "job-done", namespace: "apps", ips: ["10.42.0.50"], phase: "Succeeded" }));
    cache.upsert(makePod({ name: "twin-a", namespace: "apps", ips: ["10.42.0.60"] }));
    cache.upsert(makePod({ name: "twin-b", namespace: "apps", ips: ["10.42.0.60"] }));
  };

  it("answers 503 NotSynced before the initial lists, even for a known caller", async () => {
    addPods();
    const res = await call("/v1/forward-auth?namespace=apps", { xff: "10.42.0.10" });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ allowed: false, reason: "NotSynced" });
    expect(res.body.message).toContain("podindexes, pods");
  });

  describe("when synced", () => {
    beforeEach(() => {
      sync();
      addPods();
    });

    it("allows a caller in the target's namespace and hands the upstream its identity", async () => {
      const res = await call("/v1/forward-auth?namespace=apps&name=hello", { xff: "10.42.0.10" });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        allowed: true,
        reason: "SameNamespace",
        message: "apps/web-1 may call apps/hello",
        podindex: "fission",
        caller: {
          ip: "10.42.0.10",
          ipFrom: "x-forwarded-for",
          pod: {
            name: "web-1",
            namespace: "apps",
            uid: "11111111-1111-4111-8111-111111111111",
            serviceAccountName: "web",
          },
        },
        target: { namespace: "apps", name: "hello", from: "query" },
      });
      expect(res.headers).toMatchObject({
        "x-podindex-index": "fission",
        "x-podindex-pod-name": "web-1",
        "x-podindex-pod-namespace": "apps",
        "x-podindex-pod-uid": "11111111-1111-4111-8111-111111111111",
        "x-podindex-pod-ip": "10.42.0.10",
        "x-podindex-service-account": "web",
        "x-podindex-owner-kind": "ReplicaSet",
        "x-podindex-owner-name": "web-5d4c",
        "x-podindex-labels": "app=web,team=storefront",
        "x-podindex-reason": "SameNamespace",
      });
    });

    it("allows a granted namespace, reading Fission's URL layout from X-Forwarded-Uri", async () => {
      const res = await call("/v1/forward-auth", { xff: "10.42.0.10", uri: "/fission-function/functions/report" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ reason: "Granted", target: { namespace: "functions", name: "report" } });
      const dflt = await call("/v1/forward-auth", { xff: "10.42.0.40", uri: "/fission-function/hello" });
      expect(dflt.body).toMatchObject({ reason: "SameNamespace", target: { namespace: "default", name: "hello" } });
    });

    it("denies a caller outside the policy with 403 and no identity headers", async () => {
      const res = await call("/v1/forward-auth", { xff: "10.42.0.20", uri: "/fission-function/apps/checkout" });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({
        allowed: false,
        reason: "NamespaceNotAllowed",
        message: "namespace functions may not call apps/checkout",
        podindex: "fission",
      });
      expect(res.headers["x-podindex-pod-name"]).toBeUndefined();
      expect(res.headers["x-podindex-reason"]).toBe("NamespaceNotAllowed");
    });

    it("denies unknown, unindexed, hostNetwork, finished and doubly-claimed callers", async () => {
      const reason = async (ip: string) => {
        const res = await call("/v1/forward-auth?namespace=apps", { xff: ip });
        expect(res.status).toBe(403);
        return res.body.reason;
      };
      expect(await reason("10.42.9.9")).toBe("UnknownCaller");
      expect(await reason("10.42.0.30")).toBe("UnknownCaller"); // monitoring is not in this PodIndex
      expect(await reason("10.0.0.11")).toBe("HostNetworkCaller");
      expect(await reason("10.42.0.50")).toBe("TerminatedCaller");
      expect(await reason("10.42.0.60")).toBe("AmbiguousCaller");
    });

    it("chooses the policy by ?index=, refusing names without one and guessing between several", async () => {
      expect((await call("/v1/forward-auth?index=nope&namespace=apps", { xff: "10.42.0.10" })).body).toMatchObject({
        reason: "NoPolicy",
        message: "no valid PodIndex named nope",
      });
      views.refuse("broken", "spec.forwardAuth.allow[0].namespace: Required value");
      expect(await call("/v1/forward-auth?index=broken&namespace=apps", { xff: "10.42.0.10" })).toMatchObject({
        status: 403,
        body: {
          allowed: false,
          reason: "NoPolicy",
          message: "PodIndex broken exists but is not served: spec.forwardAuth.allow[0].namespace: Required value",
        },
      });
      const noPolicy = await call("/v1/forward-auth?index=lookups-only&namespace=apps", { xff: "10.42.0.10" });
      expect(noPolicy.status).toBe(403);
      expect(noPolicy.body.message).toBe("PodIndex lookups-only defines no forwardAuth policy");
      views.set(
        PodIndexView.fromResource(podIndex("strict", { namespaces: ["apps"], forwardAuth: { sameNamespace: true } })),
      );
      const ambiguous = await call("/v1/forward-auth?namespace=apps", { xff: "10.42.0.10" });
      expect(ambiguous.status).toBe(400);
      expect(ambiguous.body.message).toContain("several PodIndexes define forwardAuth (fission, strict)");
      expect((await call("/v1/forward-auth?index=strict&namespace=apps", { xff: "10.42.0.10" })).body).toMatchObject({
        allowed: true,
        podindex: "strict",
      });
    });

    it("denies callers lacking the required labels or service account", async () => {
      views.set(
        PodIndexView.fromResource(
          podIndex("strict", {
            namespaces: ["apps"],
            forwardAuth: {
              callerSelector: { matchLabels: { team: "storefront" } },
              serviceAccounts: ["apps/web"],
            },
          }),
        ),
      );
      cache.upsert(makePod({ name: "web-9", namespace: "apps", ips: ["10.42.0.70"], labels: { app: "web" } }));
      cache.upsert(
        makePod({
          name: "batch-1",
          namespace: "apps",
          ips: ["10.42.0.71"],
          labels: { team: "storefront" },
          serviceAccountName: "batch",
        }),
      );
      const decide = async (ip: string) =>
        (await call("/v1/forward-auth?index=strict&namespace=apps", { xff: ip })).body;
      expect(await decide("10.42.0.10")).toMatchObject({ allowed: true, reason: "SameNamespace" });
      expect(await decide("10.42.0.70")).toMatchObject({
        allowed: false,
        reason: "CallerLabelsMismatch",
        message: "pod apps/web-9 lacks the required labels",
      });
      expect(await decide("10.42.0.71")).toMatchObject({
        allowed: false,
        reason: "ServiceAccountNotAllowed",
        message: "service account apps/batch is not among the allowed ones",
      });
    });

    it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
      // prom (monitoring) calls podindex directly, claiming to be web-1
      const res = await call("/v1/forward-auth?namespace=apps", { from: "10.42.0.20", xff: "10.42.0.10" });
      expect(res.status).toBe(403);
      expect(res.body.caller).toMatchObject({ ip: "10.42.0.20", ipFrom: "peer", pod: { name: "fn-report" } });
    });

    it("never believes a spoofed left-hand X-Forwarded-For entry behind a trusted proxy", async () => {
      // fn-report wrote "10.42.0.10" itself; the proxy appended its real address
      const res = await call("/v1/forward-auth?namespace=apps", { xff: "10.42.0.10, 10.42.0.20" });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ reason: "NamespaceNotAllowed", caller: { ip: "10.42.0.20" } });
    });

    it("does not echo identity headers a caller sent itself", async () => {
      const res = await call("/v1/forward-auth?namespace=apps", {
        xff: "10.42.0.30",
        headers: { "x-podindex-pod-name": "web-1", "x-podindex-pod-namespace": "apps" },
      });
      expect(res.status).toBe(403);
      expect(res.headers["x-podindex-pod-name"]).toBeUndefined();
    });

    it("identifies IPv6 callers, and callers behind an IPv6 or IPv4-mapped proxy address", async () => {
      expect((await call("/v1/forward-auth?namespace=apps", { xff: "FD00:42::0010" })).body).toMatchObject({
        allowed: true,
        caller: { ip: "fd00:42::10", pod: { name: "web-1" } },
      });
      expect((await call("/v1/forward-auth?namespace=apps", { from: "fd00:1::5", xff: "10.42.0.10" })).status).toBe(
        200,
      );
      expect(
        (await call("/v1/forward-auth?namespace=apps", { from: `::ffff:${PROXY}`, xff: "10.42.0.10" })).status,
      ).toBe(200);
      expect((await call("/v1/forward-auth?namespace=apps", { from: "::ffff:10.42.0.10" })).body).toMatchObject({
        allowed: true,
        caller: { ip: "10.42.0.10", ipFrom: "peer" },
      });
    });

    it("refuses malformed requests with 400 and a reason", async () => {
      const bad = async (url: string, opts: Parameters<typeof call>[1]) => {
        const res = await call(url, opts);
        expect(res.status).toBe(400);
        expect(res.body.reason).toBe("BadRequest");
        return res.body.message as string;
      };
      expect(await bad("/v1/forward-auth?namespace=apps", { xff: "10.42.0.10, evil" })).toContain('"evil"');
      expect(await bad("/v1/forward-auth?namespace=apps", {})).toContain("without X-Forwarded-For");
      expect(await bad("/v1/forward-auth", { xff: "10.42.0.10", uri: "/elsewhere" })).toContain("no target");
      expect(await bad("/v1/forward-auth?namespace=Not_A_Namespace", { xff: "10.42.0.10" })).toContain("namespace");
      expect(
        await bad("/v1/forward-auth", { xff: "10.42.0.10", uri: `/fission-function/${"a".repeat(9000)}` }),
      ).toContain("limited to 8192");
    });

    it("refuses a path an upstream could resolve to another target than the one decided on", async () => {
      // web-1 (apps) is granted functions/hello; a dot-segment-resolving upstream would serve default/secret
      for (const uri of [
        "/fission-function/functions/hello/../../default/secret",
        "/fission-function/functions/hello/%2e%2e/%2e%2e/default/secret",
        "/fission-function/functions/hello/..%2f..%2fdefault/secret",
        "/fission-function/functions//hello",
        "/fission-function/functions/hello\\..\\..\\default\\secret",
      ]) {
        for (const url of ["/v1/forward-auth?index=fission", "/v1/forward-auth?namespace=functions&name=hello"]) {
          const res = await call(url, { xff: "10.42.0.10", uri });
          expect(res.status, `${url} ${uri}`).toBe(400);
          expect(res.body).toMatchObject({ allowed: false, reason: "BadRequest" });
          expect(res.body.message).toContain("X-Forwarded-Uri is ambiguous");
          expect(res.headers["x-podindex-pod-name"]).toBeUndefined();
        }
      }
      // the same call on a plain path is allowed
      const plain = await call("/v1/forward-auth?index=fission", {
        xff: "10.42.0.10",
        uri: "/fission-function/functions/hello",
      });
      expect(plain.body).toMatchObject({ allowed: true, reason: "Granted" });
    });

    it("gives every text of one caller address one answer, and refuses a form refused plain everywhere", async () => {
      const answer = async (opts: Parameters<typeof call>[1]) => {
        const res = await call("/v1/forward-auth?namespace=apps", opts);
        return [res.status, res.body.reason, res.body.caller?.ip ?? null];
      };
      // IPv4-compatible ::10.42.0.10 is the IPv6 address ::a2a:a (no pod has it), not web-1's 10.42.0.10
      const compat = [403, "UnknownCaller", "::a2a:a"];
      expect(await answer({ xff: "::10.42.0.10" })).toEqual(compat);
      expect(await answer({ xff: "::a2a:a" })).toEqual(compat);
      expect(await answer({ xff: "::0:0a2a:000A" })).toEqual(compat);
      const web = [200, "SameNamespace", "10.42.0.10"];
      expect(await answer({ xff: "10.42.0.10" })).toEqual(web);
      expect(await answer({ xff: "::ffff:10.42.0.10" })).toEqual(web);
      expect(await answer({ xff: "::FFFF:0a2a:a" })).toEqual(web);
      expect(await answer({ from: "::ffff:a2a:a" })).toEqual(web);
      for (const ip of ["010.42.0.10", "::ffff:010.42.0.10", "::ffff:0x0a.42.0.10", "fd00:42:0:0:0:0:00.0.0.16"]) {
        expect((await answer({ xff: ip }))[0], ip).toBe(400);
        expect((await answer({ from: ip }))[0], ip).toBe(400);
      }
    });

    it("logs every decision as one structured line and counts it on /metrics", async () => {
      await call("/v1/forward-auth?namespace=apps&name=hello", { xff: "10.42.0.10" });
      await call("/v1/forward-auth?namespace=apps", { xff: "10.42.0.20" });
      await call("/v1/forward-auth?namespace=apps", { xff: "10.42.0.20" });
      const decisions = logLines.filter(l => l.decision);
      expect(decisions).toHaveLength(3);
      expect(decisions[0]).toMatchObject({
        decision: "allow",
        status: 200,
        reason: "SameNamespace",
        podindex: "fission",
        callerIp: "10.42.0.10",
        callerIpFrom: "x-forwarded-for",
        peer: PROXY,
        caller: "apps/web-1",
        target: "apps/hello",
        msg: "forward-auth allowed: apps/web-1 may call apps/hello",
      });
      expect(decisions[1]).toMatchObject({ decision: "deny", status: 403, reason: "NamespaceNotAllowed" });
      const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
      expect(metrics).toContain(
        'podindex_forward_auth_decisions_total{podindex="fission",result="allow",reason="SameNamespace"} 1',
      );
      expect(metrics).toContain(
        'podindex_forward_auth_decisions_total{podindex="fission",result="deny",reason="NamespaceNotAllowed"} 2',
      );
      expect(metrics).toContain('podindex_lookups_total{route="forward-auth",result="denied"} 2');
    });
  });
});
