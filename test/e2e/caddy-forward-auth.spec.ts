import { K8s, kind } from "kubernetes-fluent-client";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { load as loadYaml } from "js-yaml";
import { TrustedProxies } from "../../src/forward-auth/client-ip";
import { PodIndex } from "../../src/kinds/podindex";
import type { SimulatedApiServer } from "../apiserver/server";
import { findCaddy, getFrom, startCaddy, type RunningCaddy } from "../support/caddy";
import { startCluster } from "../support/cluster";
import { eventually, startModule } from "../support/module";
import { makePod } from "../support/pods";

const caddy = findCaddy();
if (!caddy) {
  const msg = "caddy is not installed: the forward_auth end-to-end test cannot run (apt-get install caddy)";
  if (process.env.CI) throw new Error(`${msg}; CI must run it`);
  console.warn(`SKIPPED: ${msg}`);
}

/** Simulated pods get addresses in 127.0.0.0/8, so a client bound to one is that pod calling. */
const WEB = "127.0.0.9"; // apps/web-1
const REPORT = "127.0.0.10"; // functions/report-1, owned by nothing
const INTRUDER = "127.0.0.11"; // tools/intruder-1

/**
 * Real Caddy (examples/Caddyfile and examples/podindex-fission.yaml, unchanged) → podindex's forward-auth (the Pepr module against
 * the simulated apiserver) → an upstream that records what reached it.
 */
describe.skipIf(!caddy)("Caddy forward_auth in front of podindex", () => {
  let sim: SimulatedApiServer;
  let stopModule: () => Promise<void>;
  let upstream: Server;
  const seen: IncomingHttpHeaders[] = [];
  let proxy: RunningCaddy;
  let loose: RunningCaddy;
  let placeholders: RunningCaddy;

  const example = readFileSync(resolve(__dirname, "../../examples/Caddyfile"), "utf8");

  beforeAll(async () => {
    sim = await startCluster();
    for (const ns of ["apps", "functions", "tools"]) {
      sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    }
    const pod = async (name: string, namespace: string, ip: string, labels: Record<string, string>, owned = true) => {
      const { metadata, spec, status } = makePod({
        name,
        namespace,
        labels,
        ips: [ip],
        serviceAccountName: name.replace(/-\d+$/, ""),
      });
      if (!owned) delete metadata!.ownerReferences;
      await K8s(kind.Pod).Create({
        metadata,
        spec: { ...spec, containers: [{ name: "main", image: "fn:1" }] },
      } as kind.Pod);
      // the kubelet reports the pod running with its IP
      await K8s(kind.Pod).PatchStatus({ metadata: { name, namespace }, status } as kind.Pod);
    };
    await pod("web-1", "apps", WEB, { app: "web", team: "storefront" });
    await pod("report-1", "functions", REPORT, { app: "report" }, false);
    await pod("intruder-1", "tools", INTRUDER, { app: "intruder" });
    // the PodIndex examples/Caddyfile names, as shipped, with this test's namespaces
    const fission = loadYaml(
      readFileSync(resolve(__dirname, "../../examples/podindex-fission.yaml"), "utf8"),
    ) as PodIndex;
    fission.spec!.namespaces = ["apps", "functions", "tools"];
    await K8s(PodIndex).Apply(fission, { force: true });

    // podindex trusts only the proxy's own address (Caddy connects to it from 127.0.0.1)
    const mod = await startModule(0, 200, TrustedProxies.parse("127.0.0.1/32"));
    stopModule = () => mod.app.stop();
    await eventually(async () => expect((await fetch(`${mod.url}/readyz`)).status).toBe(200), 20_000);

    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.end(`function reached: ${req.url}`);
    });
    await new Promise<void>(r => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as AddressInfo).port;

    const env = (port: number) =>
      example
        .replaceAll("{$CADDY_ADMIN:localhost:2019}", "off")
        .replaceAll("{$LISTEN::8080}", `127.0.0.1:${port}`)
        .replaceAll("{$PODINDEX:podindex.pepr-system.svc:8080}", `127.0.0.1:${mod.port}`)
        .replaceAll("{$UPSTREAM:router.fission.svc:80}", `127.0.0.1:${upstreamPort}`);
    proxy = await startCaddy(caddy!, env);
    // the README's warning, made real: a Caddy that believes X-Forwarded-For from any private address
    loose = await startCaddy(caddy!, port =>
      env(port).replace("uri /v1/forward-auth?index=fission", "$&\n\t\t\ttrusted_proxies private_ranges"),
    );
    // the target filled by Caddy's placeholders into the query, for a /fn/<namespace>/<name> layout
    placeholders = await startCaddy(caddy!, port =>
      env(port).replace(
        "uri /v1/forward-auth?index=fission",
        "uri /v1/forward-auth?index=fission&namespace={http.request.uri.path.1}&name={http.request.uri.path.2}",
      ),
    );
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await loose?.stop();
    await placeholders?.stop();
    await new Promise(r => upstream?.close(r));
    await stopModule?.();
    await sim?.close();
  });

  const call = (from: string, path: string, headers: Record<string, string> = {}, via = proxy) => {
    seen.length = 0;
    return getFrom(from, `http://127.0.0.1:${via.port}${path}`, headers);
  };

  it("allows a call from the target's own namespace and hands the function the caller's identity", async () => {
    const res = await call(WEB, "/fission-function/apps/checkout");
    expect(res.status).toBe(200);
    expect(res.body).toBe("function reached: /fission-function/apps/checkout");
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      "x-podindex-index": "fission",
      "x-podindex-pod-name": "web-1",
      "x-podindex-pod-namespace": "apps",
      "x-podindex-pod-ip": WEB,
      "x-podindex-service-account": "web",
      "x-podindex-owner-kind": "ReplicaSet",
      "x-podindex-owner-name": "web-5d4c",
      "x-podindex-labels": "app=web",
    });
    expect(seen[0]["x-podindex-pod-uid"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("allows a granted namespace and a function in Fission's default-namespace layout", async () => {
    expect((await call(WEB, "/fission-function/functions/report")).status).toBe(200);
    expect(seen[0]["x-podindex-pod-name"]).toBe("web-1");
    // report-1 lives in functions: a same-namespace call
    expect((await call(REPORT, "/fission-function/functions/other")).status).toBe(200);
  });

  it("denies a call from outside the policy with podindex's JSON reason, never reaching the function", async () => {
    const res = await call(INTRUDER, "/fission-function/functions/report");
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({
      allowed: false,
      reason: "NamespaceNotAllowed",
      podindex: "fission",
      caller: { ip: INTRUDER, pod: { name: "intruder-1", namespace: "tools" } },
      target: { namespace: "functions", name: "report" },
    });
    expect(seen).toHaveLength(0);
  });

  it("denies a caller that is no known pod", async () => {
    const res = await call("127.0.0.77", "/fission-function/apps/checkout");
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).reason).toBe("UnknownCaller");
  });

  it("does not let a spoofed X-Forwarded-For pass: Caddy replaces it with the real peer", async () => {
    const res = await call(INTRUDER, "/fission-function/apps/checkout", { "X-Forwarded-For": WEB });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ reason: "NamespaceNotAllowed", caller: { ip: INTRUDER } });
    expect(seen).toHaveLength(0);
  });

  it("still refuses the spoof behind a Caddy that trusts private ranges: podindex reads the header from the right", async () => {
    const res = await call(INTRUDER, "/fission-function/apps/checkout", { "X-Forwarded-For": WEB }, loose);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).caller.ip).toBe(INTRUDER);
  });

  it("never lets a caller's own identity headers reach the function", async () => {
    const res = await call(REPORT, "/fission-function/functions/other", {
      "X-Podindex-Owner-Kind": "Deployment",
      "X-Podindex-Owner-Name": "admin",
      "X-Podindex-Pod-Name": "web-1",
    });
    expect(res.status).toBe(200);
    expect(seen[0]["x-podindex-pod-name"]).toBe("report-1");
    // report-1 has no owner: podindex sends the owner headers empty, replacing the caller's copies
    expect(seen[0]["x-podindex-owner-kind"]).toBe("");
    expect(seen[0]["x-podindex-owner-name"]).toBe("");
    expect(seen[0]["x-podindex-labels"]).toBe("app=report");
  });

  /** A GET whose request line is sent byte for byte (fetch and http.request resolve "..", as curl does without --path-as-is). */
  const rawGet = (from: string, path: string, via: RunningCaddy) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      seen.length = 0;
      let text = "";
      const sock = connect({ host: "127.0.0.1", port: via.port, localAddress: from }, () =>
        sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
      );
      sock.setEncoding("utf8");
      sock.on("data", d => (text += d));
      sock.on("error", reject);
      sock.on("end", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), text }));
    });

  it("refuses a path the upstream could resolve to another target than the one podindex decided on", async () => {
    // web-1 (apps) may call functions/report, and may not call tools/secret
    expect((await rawGet(WEB, "/fission-function/functions/report", proxy)).status).toBe(200);
    for (const path of [
      "/fission-function/functions/report/../../tools/secret",
      "/fission-function/functions/report/%2e%2e/%2E%2E/tools/secret",
    ]) {
      for (const [via, front] of [
        [proxy, "/fission-function"],
        [placeholders, "/fn"],
      ] as const) {
        const res = await rawGet(WEB, path.replace("/fission-function", front), via);
        expect(res.status, `${front} ${path}`).toBe(400);
        expect(res.text).toContain("X-Forwarded-Uri is ambiguous");
        expect(seen).toHaveLength(0);
      }
    }
  });

  it("reads the target from the query when Caddy fills it from its placeholders", async () => {
    const allowed = await call(WEB, "/fn/functions/report", {}, placeholders);
    expect(allowed.status).toBe(200);
    expect(seen[0]["x-podindex-pod-name"]).toBe("web-1");
    const denied = await call(INTRUDER, "/fn/functions/report", {}, placeholders);
    expect(JSON.parse(denied.body)).toMatchObject({
      reason: "NamespaceNotAllowed",
      target: { namespace: "functions", name: "report", from: "query" },
    });
  });
});
