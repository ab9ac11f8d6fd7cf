/**
 * npm run demo: a simulated cluster, the sample PodIndexes, and the real podindex module, on this
 * machine, with no cluster; with Caddy installed, also a real Caddy running examples/Caddyfile in
 * front of podindex's forward-auth and an upstream. Prints what to try; runs until Ctrl-C.
 *
 * Environment: the module's own variables (src/config.ts: PORT, HOST, PODINDEX_TRUSTED_PROXIES,
 * PODINDEX_STATUS_INTERVAL_MS, PODINDEX_RESYNC_SECONDS, PODINDEX_DRAIN_SECONDS, …), refused as the
 * deployed module refuses them, except that HOST defaults to 127.0.0.1 and LOG_LEVEL to warn here;
 * and the demo's own: DEMO_API_PORT (simulated apiserver, default 6443), DEMO_CADDY_PORT (Caddy,
 * default 8081; 0 picks a free port), DEMO_CADDY (the caddy binary; default: caddy on the PATH;
 * "none": run without Caddy).
 */
import { existsSync, rmSync } from "node:fs";
import { isIP } from "node:net";
import { dirname } from "node:path";
import { loadConfig } from "../../src/config";
import { normalizeIp } from "../../src/cache/ip";
import { TrustedProxies } from "../../src/forward-auth/client-ip";
import { installShutdown } from "../../src/shutdown";
import { findCaddy } from "../support/caddy";
import { watchAncestors } from "./ancestors";
import { NAMESPACES } from "./cluster";
import { ensureCaddyPortFree, startGateway, type Gateway } from "./gateway";

function demoPort(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535)
    throw new Error(`${name} must be a port (0 to 65535), got "${raw}"`);
  return Number(raw);
}

/** DEMO_CADDY, or caddy on the PATH; undefined: run without Caddy. */
function caddyBinary(): string | undefined {
  const chosen = process.env.DEMO_CADDY?.trim();
  if (!chosen) return findCaddy();
  if (chosen === "none") return undefined;
  if (!existsSync(chosen)) throw new Error(`DEMO_CADDY=${chosen}: no such file (unset it to use caddy from the PATH)`);
  return chosen;
}

/** host:port as a URL authority (IPv6 bracketed) */
const authority = (host: string, port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`;

async function main(): Promise<void> {
  const config = loadConfig({ HOST: "127.0.0.1", LOG_LEVEL: "warn", ...process.env });
  const apiPort = demoPort("DEMO_API_PORT", 6443);
  const caddyPort = demoPort("DEMO_CADDY_PORT", 8081);
  const caddy = caddyBinary();
  if (caddy && caddyPort) await ensureCaddyPortFree(caddyPort);
  // where clients (and Caddy) reach the lookup server; Caddy's requests come from this address too
  const reach = config.host === "0.0.0.0" ? "127.0.0.1" : config.host === "::" ? "::1" : config.host;
  const userProxies = process.env.PODINDEX_TRUSTED_PROXIES;
  const caddyAddress = isIP(reach) ? reach : "127.0.0.1,::1";
  const trustedProxies =
    caddy && userProxies === undefined ? TrustedProxies.parse(caddyAddress) : config.trustedProxies;
  const proxies =
    userProxies === undefined
      ? [
          `PODINDEX_TRUSTED_PROXIES=${trustedProxies.text.join(",")}, set by the demo: the address Caddy calls`,
          "podindex from (set the variable yourself to override it).",
        ]
      : [`PODINDEX_TRUSTED_PROXIES=${userProxies}, as you set it.`].concat(
          caddyAddress.split(",").some(a => trustedProxies.trusts(normalizeIp(a) ?? a))
            ? []
            : [
                "WARNING: it does not hold Caddy's address, so podindex takes every call through Caddy for Caddy's own (403).",
              ],
        );

  // the Kubernetes clients take seconds to load: only once the settings are known good
  const step = (what: string) => console.log(`podindex demo: ${what}…`);
  step("loading the Kubernetes clients");
  const [{ startCluster }, { eventually, startModule }, { seedDemoCluster }] = await Promise.all([
    import("../support/cluster"),
    import("../support/module"),
    import("./seed"),
  ]);
  step("starting the simulated cluster");
  const sim = await startCluster({ port: apiPort, kubeletDeleteDelayMs: 2_000, endpointSliceController: true });
  let gateway: Gateway | undefined;
  // however the demo ends (a failed start, a second Ctrl-C, the shutdown deadline), it leaves
  // neither its kubeconfig directory nor a running Caddy behind
  process.on("exit", () => {
    gateway?.stopNow();
    rmSync(dirname(sim.kubeconfigPath), { recursive: true, force: true });
  });
  step("creating its namespaces, pods, EndpointSlices and PodIndexes");
  const seeded = await seedDemoCluster();

  step("starting podindex (the Pepr module) and waiting until it is ready");
  const mod = await startModule(config.port, config.statusIntervalMs, trustedProxies, {
    host: config.host,
    resyncSeconds: config.resyncSeconds,
    defaultService: config.defaultService,
    maxStalenessSeconds: config.maxStalenessSeconds,
    watchIdleSeconds: config.watchIdleSeconds,
  });
  const u = `http://${authority(reach, mod.port)}`;
  await eventually(async () => {
    const res = await fetch(`${u}/readyz`);
    if (res.status !== 200) throw new Error(`not ready: ${await res.text()}`);
  }, 30_000);

  const web = seeded.webUid;
  if (caddy) step("starting Caddy with examples/Caddyfile, and its upstream");
  if (caddy) gateway = await startGateway(caddy, authority(reach, mod.port), caddyPort);
  const kc = `kubectl --kubeconfig ${sim.kubeconfigPath}`;
  console.log(`
podindex demo is running: ${seeded.pods} pods in ${NAMESPACES.length + 2} namespaces, PodIndexes ${seeded.podIndexes.map(n => `"${n}"`).join(" and ")} applied.

  lookup server        ${u}
  simulated apiserver  ${sim.url}   (kubeconfig: ${sim.kubeconfigPath})

Try:
  curl -s ${u}/readyz
  curl -s ${u}/v1/pods/by-ip/10.42.0.10            # hit: apps/web-7d9f8b6c5d-x2k4p
  curl -s ${u}/v1/pods/by-ip/10.42.9.99            # miss: 404, no pod has this IP
  curl -s ${u}/v1/pods/by-ip/fd00:42:2::11         # a dual-stack pod by its IPv6 address
  curl -s ${u}/v1/pods/by-ip/10.42.1.60            # the running pod, not the finished Job pod that had this IP
  curl -s ${u}/v1/pods/by-ip/10.0.0.11             # 404: only hostNetwork pods (node-exporter) have the node's IP
  curl -s ${u}/v1/pods/by-ip/10.42.0.2             # 404: coredns is in kube-system, which the PodIndex does not select
  curl -s ${u}/v1/pods/by-uid/${web}
  curl -s '${u}/v1/pods?namespace=functions'
  curl -s '${u}/pod?ip=10.42.0.20'                 # pod-watcher's route and shape
  curl -s '${u}/api/v1/pod?uid=${web}'             # pod-index's route and shape
  curl -s ${u}/v1/services/apps/web/endpoints      # the union of the Service's EndpointSlices
  curl -s '${u}/endpoints?namespace=apps&service=api'   # kubernetes-pod-discovery's Endpoints shape

${forwardAuthTour(u, gateway, proxies).join("\n")}

Change the cluster while it runs (pods deleted gracefully are removed 2 s later, as a kubelet would):
  ${kc} get pods -A
  ${kc} label pod -n apps web-7d9f8b6c5d-x2k4p team=payments   # the hit above now shows the label
  ${kc} delete pod -n apps web-7d9f8b6c5d-m8q1z                 # then 10.42.1.10 is a 404
  ${kc} get podindex

Ctrl-C stops everything (after a ${config.drainSeconds} s drain, as in a rollout; Ctrl-C twice: at once).`);

  installShutdown({
    readiness: mod.app.readiness,
    drainMs: config.drainSeconds * 1000,
    stop: async () => {
      await gateway?.stop();
      await mod.app.stop();
      await sim.close();
    },
    log: { info: (_obj, msg) => console.log(msg), error: (obj, msg) => console.error(msg, obj) },
    signals: ["SIGINT", "SIGTERM"],
  });
  // `npm run demo` runs npm → sh → tsx → this process, and a SIGTERM to npm alone reaches none of
  // them: when npm (or whichever process started the demo) is gone, stop as on SIGTERM
  watchAncestors(who => {
    console.log(`${who.command} (pid ${who.pid}), which started this demo, exited: stopping`);
    process.kill(process.pid, "SIGTERM");
  });
}

const LOADGEN = "apps/loadgen-5f6d7c8b9-q1w2e";
const CLI = "default/cli-7c9d8b6f5-r2t4y";

/**
 * The forward-auth part of the tour. Each call is a curl line followed by the answer to expect:
 * "→ <status>", then what the answer contains in backticks (test/demo/demo.spec.ts runs them).
 */
function forwardAuthTour(
  u: string,
  gateway: Gateway | undefined,
  /** what the demo says about PODINDEX_TRUSTED_PROXIES */
  proxies: string[],
): string[] {
  const call = (comment: string, curl: string, expect: string) => [
    `  # ${comment}`,
    `  curl -si ${curl}`,
    `    → ${expect}`,
  ];
  const fn = "/fission-function/functions/hello";
  const direct = [
    `Forward auth, asked directly (PodIndex "fission": a pod may call functions in its own namespace, and pods in`,
    `apps may call any function in functions). ${LOADGEN} has IP 127.0.0.9 and ${CLI} 127.0.0.10,`,
    `so curl --interface <IP> *is* that pod calling:`,
    ...call(
      "apps may call functions",
      `--interface 127.0.0.9 -H 'X-Forwarded-Uri: ${fn}' '${u}/v1/forward-auth?index=fission'`,
      '200, `"allowed":true` `"reason":"Granted"`',
    ),
    ...call(
      "the target in the query: apps may not call default",
      `--interface 127.0.0.9 '${u}/v1/forward-auth?index=fission&namespace=default'`,
      '403, `"reason":"NamespaceNotAllowed"`',
    ),
    ...call(
      "no pod has 127.0.0.77",
      `--interface 127.0.0.77 '${u}/v1/forward-auth?index=fission&namespace=apps'`,
      '403, `"reason":"UnknownCaller"`',
    ),
  ];
  if (!gateway) {
    return [
      ...direct,
      "",
      "Caddy is not installed (or DEMO_CADDY=none), so the demo shows no call through a real Caddy in front of",
      "podindex. Get it with `apt-get install caddy` (Debian, Ubuntu; elsewhere https://caddyserver.com/docs/install)",
      "and run npm run demo again.",
    ];
  }
  const g = gateway.url;
  const env = Object.entries(gateway.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return [
    ...direct,
    "",
    `Through a real Caddy (${g}): examples/Caddyfile, run with ${env}.`,
    `Caddy asks podindex, then calls an upstream (Fission's router, played by the demo) that answers with the identity`,
    "headers it was handed.",
    ...proxies,
    ...call(
      "allowed: apps may call functions; the function learns who called",
      `--interface 127.0.0.9 ${g}${fn}`,
      "200, the upstream sees `x-podindex-pod-name: loadgen-5f6d7c8b9-q1w2e` `x-podindex-pod-namespace: apps`",
    ),
    ...call(
      "denied: default may not call functions; the upstream is never reached",
      `--interface 127.0.0.10 ${g}${fn}`,
      '403, podindex\'s answer `"reason":"NamespaceNotAllowed"`',
    ),
    ...call(
      "a spoofed X-Forwarded-For: cli claims loadgen's address; Caddy sends podindex the real one",
      `--interface 127.0.0.10 -H 'X-Forwarded-For: 127.0.0.9' ${g}${fn}`,
      '403, `"reason":"NamespaceNotAllowed"` for `"ip":"127.0.0.10"`',
    ),
    ...call(
      "forged identity headers: Caddy drops a caller's X-Podindex-* and passes on podindex's",
      `--interface 127.0.0.9 -H 'X-Podindex-Pod-Name: admin' -H 'X-Podindex-Pod-Namespace: kube-system' ${g}${fn}`,
      "200, the upstream sees `x-podindex-pod-name: loadgen-5f6d7c8b9-q1w2e` `x-podindex-pod-namespace: apps`, never admin",
    ),
  ];
}

main().catch(err => {
  console.error("demo failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
