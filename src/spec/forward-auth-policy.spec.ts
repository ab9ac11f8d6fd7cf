import { describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { toPodRecord, type PodRecord } from "../cache/pod-record";
import { SpecError } from "./selector";
import { ForwardAuthPolicy, TargetError, forwardedPath } from "./forward-auth-policy";

const pod = (over: Parameters<typeof makePod>[0]): PodRecord => toPodRecord(makePod(over), () => false)!;

/** Fission's router: /fission-function/<name> (default namespace), /fission-function/<namespace>/<name>. */
const fission = ForwardAuthPolicy.compile({
  target: {
    patterns: [
      { header: "X-Forwarded-Uri", regex: "^/fission-function/(?<namespace>[^/?]+)/(?<name>[^/?]+)" },
      { header: "X-Forwarded-Uri", regex: "^/fission-function/(?<name>[^/?]+)", namespace: "default" },
    ],
  },
});

describe("ForwardAuthPolicy.target", () => {
  it("prefers ?namespace= and ?name= filled by the proxy", () => {
    expect(fission.target({ namespace: "apps", name: "hello", forwardedUri: "/fission-function/x/y" })).toEqual({
      namespace: "apps",
      name: "hello",
      from: "query",
    });
  });

  it("reads Fission's URL layout from X-Forwarded-Uri", () => {
    expect(fission.target({ forwardedUri: "/fission-function/functions/report?x=1" })).toEqual({
      namespace: "functions",
      name: "report",
      from: "x-forwarded-uri",
    });
    expect(fission.target({ forwardedUri: "/fission-function/hello" })).toMatchObject({
      namespace: "default",
      name: "hello",
    });
  });

  it("reads the target from X-Forwarded-Host", () => {
    const byHost = ForwardAuthPolicy.compile({
      target: {
        patterns: [
          { header: "X-Forwarded-Host", regex: "^(?<name>[a-z0-9-]+)\\.(?<namespace>[a-z0-9-]+)\\.fn\\.example$" },
        ],
      },
    });
    expect(byHost.target({ forwardedHost: "hello.apps.fn.example" })).toMatchObject({
      namespace: "apps",
      name: "hello",
    });
  });

  it("refuses a request whose target cannot be read or is not a name", () => {
    expect(() => fission.target({ forwardedUri: "/other" })).toThrow(TargetError);
    expect(() => fission.target({})).toThrow("no target pattern matched");
    expect(() => ForwardAuthPolicy.compile({}).target({ forwardedUri: "/x" })).toThrow(
      "?namespace= parameter is required",
    );
    expect(() => fission.target({ namespace: "Apps" })).toThrow('target namespace "Apps" (from query)');
    expect(() => fission.target({ forwardedUri: "/fission-function/apps/..%2F" })).toThrow("ambiguous");
    expect(() => fission.target({ forwardedUri: "/fission-function/apps/Hello%21" })).toThrow("is not an object name");
  });

  it("decides on the decoded path, refusing one an upstream could resolve to another target", () => {
    expect(fission.target({ forwardedUri: "/fission-function/%66unctions/report" })).toMatchObject({
      namespace: "functions",
      name: "report",
    });
    // the finding: Granted for functions/hello while the upstream serves default/secret
    for (const uri of [
      "/fission-function/functions/hello/../../default/secret",
      "/fission-function/functions/hello/%2e%2e/%2E%2E/default/secret",
    ]) {
      expect(() => fission.target({ forwardedUri: uri }), uri).toThrow(TargetError);
      // the proxy forwards that URI upstream even when the target came from the query
      expect(() => fission.target({ namespace: "functions", name: "hello", forwardedUri: uri }), uri).toThrow(
        "X-Forwarded-Uri is ambiguous (a dot segment)",
      );
    }
  });

  it("reads the target from the path only, never from the query", () => {
    const loose = ForwardAuthPolicy.compile({
      target: {
        patterns: [{ header: "X-Forwarded-Uri", regex: "/fission-function/(?<namespace>[^/]+)/(?<name>[^/]+)" }],
      },
    });
    expect(() => loose.target({ forwardedUri: "/admin?next=/fission-function/functions/report" })).toThrow(
      "no target pattern matched",
    );
    expect(loose.target({ forwardedUri: "/fission-function/functions/report?next=/x/y" })).toMatchObject({
      namespace: "functions",
      name: "report",
    });
  });
});

describe("forwardedPath", () => {
  it.each([
    ["/", "/"],
    ["/fission-function/functions/report?x=1&y=/../z", "/fission-function/functions/report"],
    ["/fission-function/hello/", "/fission-function/hello/"],
    ["/fn/a%20b/%C3%A9t%C3%A9", "/fn/a b/été"],
    ["/fn/.well-known/...", "/fn/.well-known/..."],
  ])("%j is the path %j", (uri, path) => {
    expect(forwardedPath(uri)).toBe(path);
  });

  it.each([
    ["/a/../b", "a dot segment"],
    ["/a/./b", "a dot segment"],
    ["/a/..", "a dot segment"],
    ["/a/%2e%2e/b", "a dot segment"],
    ["/a/%2E./b", "a dot segment"],
    ["/a/..;x=1/b", "a dot segment"],
    ["/a/%EF%BC%8E%EF%BC%8E/b", "a dot segment"],
    ["//evil.example/a", "an empty segment"],
    ["/a//b", "an empty segment"],
    ["/a%2fb", "decodes to"],
    ["/a%2Fb", "decodes to"],
    ["/a%5cb", "decodes to"],
    ["/a%EF%BC%8Fb", "decodes to"],
    ["/a%3fb", "decodes to"],
    ["/a%23b", "decodes to"],
    ["/a%00b", "decodes to"],
    ["/a%252e%252e/b", "decodes to"],
    ["/a%zz", "a malformed percent-escape"],
    ["/a%C0%AE%C0%AE/b", "a malformed percent-escape"],
    ["/a\\..\\b", "a backslash"],
    ["/a#/../b", "a backslash, fragment"],
    ["/a\u0000b", "control character"],
    ["/a\tb", "control character"],
    ["/a b", "space"],
    ["http://evil.example/a", "not a path"],
    ["*", "not a path"],
    ["", "not a path"],
  ])("refuses %j (%s)", (uri, what) => {
    expect(() => forwardedPath(uri)).toThrow(TargetError);
    expect(() => forwardedPath(uri)).toThrow(what);
  });
});

describe("ForwardAuthPolicy.decide", () => {
  const target = { namespace: "functions", name: "report", from: "query" };
  const caller = pod({ namespace: "functions", labels: { app: "web" }, serviceAccountName: "web" });

  it("allows the target's own namespace by default, and not when sameNamespace is false", () => {
    expect(fission.decide(caller, target)).toEqual({ allowed: true, reason: "SameNamespace" });
    expect(ForwardAuthPolicy.compile({ sameNamespace: false }).decide(caller, target)).toMatchObject({
      allowed: false,
      reason: "NamespaceNotAllowed",
    });
  });

  it("allows other namespaces only through a grant, optionally limited to names", () => {
    const p = ForwardAuthPolicy.compile({
      allow: [
        { namespace: "functions", from: ["apps"] },
        { namespace: "functions", names: ["public"], from: ["*"] },
      ],
    });
    expect(p.decide(pod({ namespace: "apps" }), target)).toEqual({ allowed: true, reason: "Granted" });
    expect(p.decide(pod({ namespace: "monitoring" }), target)).toEqual({
      allowed: false,
      reason: "NamespaceNotAllowed",
      message: "namespace monitoring may not call functions/report",
    });
    expect(p.decide(pod({ namespace: "monitoring" }), { ...target, name: "public" })).toMatchObject({ allowed: true });
    expect(p.decide(pod({ namespace: "monitoring" }), { namespace: "functions", from: "query" })).toMatchObject({
      allowed: false,
    });
  });

  it("requires caller labels and service accounts when set", () => {
    const p = ForwardAuthPolicy.compile({
      callerSelector: { matchLabels: { "podindex.dev/caller": "true" } },
      serviceAccounts: ["web", "apps/reporter"],
    });
    const labelled = { labels: { "podindex.dev/caller": "true" } };
    expect(p.decide(caller, target)).toMatchObject({ allowed: false, reason: "CallerLabelsMismatch" });
    expect(p.decide(pod({ namespace: "functions", ...labelled }), target)).toMatchObject({ allowed: true });
    expect(p.decide(pod({ namespace: "functions", ...labelled, serviceAccountName: "batch" }), target)).toMatchObject({
      allowed: false,
      reason: "ServiceAccountNotAllowed",
    });
    const granted = ForwardAuthPolicy.compile({
      allow: [{ namespace: "functions", from: ["apps"] }],
      serviceAccounts: ["apps/reporter"],
    });
    expect(granted.decide(pod({ namespace: "apps", serviceAccountName: "reporter" }), target)).toMatchObject({
      allowed: true,
    });
    expect(granted.decide(pod({ namespace: "functions", serviceAccountName: "reporter" }), target)).toMatchObject({
      reason: "ServiceAccountNotAllowed",
    });
  });
});

describe("ForwardAuthPolicy.compile", () => {
  const invalid = (spec: Parameters<typeof ForwardAuthPolicy.compile>[0], message: string) => {
    let err: unknown;
    try {
      ForwardAuthPolicy.compile(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).message).toContain(message);
  };

  it("names the offending field of an invalid policy", () => {
    invalid({ target: { patterns: [{ header: "Host", regex: "x" }] } }, "spec.forwardAuth.target.patterns[0].header");
    invalid({ target: { patterns: [{ header: "X-Forwarded-Uri", regex: "(" }] } }, "patterns[0].regex: Invalid value");
    invalid({ target: { patterns: [{ header: "X-Forwarded-Uri", regex: "(?<fn>.*)" }] } }, "unknown named group(s) fn");
    invalid({ target: { patterns: [{ header: "X-Forwarded-Uri", regex: "(?<name>.*)" }] } }, "exactly one");
    invalid(
      { target: { patterns: [{ header: "X-Forwarded-Uri", regex: "(?<namespace>.*)", namespace: "default" }] } },
      "exactly one",
    );
    invalid(
      { target: { patterns: [{ header: "X-Forwarded-Uri", regex: "^/(?<namespace>[a-z]+)/\\1" }] } },
      "patterns[0].regex",
    );
    invalid({ allow: [{ namespace: "functions", from: [] }] }, "spec.forwardAuth.allow[0].from: Required value");
    invalid({ allow: [{ namespace: "Functions", from: ["*"] }] }, "spec.forwardAuth.allow[0].namespace");
    invalid({ serviceAccounts: ["a/b/c"] }, "spec.forwardAuth.serviceAccounts[0]");
    invalid({ headers: { labels: ["bad key!"] } }, "spec.forwardAuth.headers.labels[0]");
    invalid({ callerSelector: { matchLabels: { "a b": "x" } } }, "spec.forwardAuth.callerSelector.matchLabels");
  });

  it("refuses what a linear-time engine cannot run: backreferences and lookarounds", () => {
    const regex = (r: string) => ({ target: { patterns: [{ header: "X-Forwarded-Uri" as const, regex: r }] } });
    invalid(regex("^/(?<namespace>[a-z]+)/\\k<namespace>"), "spec.forwardAuth.target.patterns[0].regex: Invalid value");
    invalid(regex("^/(?=x)(?<namespace>[a-z]+)"), "no lookarounds or backreferences");
    invalid(regex("^/(?<namespace>[a-z]+)(?!/admin)"), "no lookarounds or backreferences");
  });
});

describe("target patterns run in linear time", () => {
  // ([a-z]+-?)+ looks like a DNS label; JavaScript's backtracking engine takes exponential time on it
  const greedy = ForwardAuthPolicy.compile({
    target: {
      patterns: [{ header: "X-Forwarded-Uri", regex: "^/fission-function/(?<name>([a-z]+-?)+)$", namespace: "apps" }],
    },
  });
  const timed = (uri: string) => {
    const start = performance.now();
    expect(() => greedy.target({ forwardedUri: uri })).toThrow(TargetError);
    return performance.now() - start;
  };

  it("answers a caller-written path that makes a backtracking engine explode at once", () => {
    timed("/fission-function/warm-up!");
    // seconds in a backtracking engine (doubling with each "a"), milliseconds here
    expect(timed(`/fission-function/${"a".repeat(24)}!`)).toBeLessThan(500);
    // the longest path the route lets through
    expect(timed(`/fission-function/${"a".repeat(8150)}!`)).toBeLessThan(2000);
  });
});
