import type { V1Container, V1Deployment, V1PolicyRule, V1PodSpec } from "@kubernetes/client-node";
import Ajv from "ajv";
import yaml from "js-yaml";
import { fork, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { version } from "../package.json";
import { SIZING, memoryRequestMiB } from "../scripts/manifests";
import { SERVICE_MONITOR_FILE, postBuild } from "../scripts/postbuild";
import { loadConfig } from "../src/config";
import { Metrics } from "../src/metrics";

/**
 * What `npm run build` ships, checked on a recorded `pepr build` output (test/fixtures/pepr-build:
 * `npx pepr build -o .stock` at Pepr 1.1.4, the Secrets' base64 payloads cut to 24 characters;
 * record it again when Pepr is upgraded) run through the same post-processing, and on dist/ when
 * a build made one. The chart's podindex templates are rendered with its values by `render`
 * below (helm is not installed), which refuses any template construct it does not know.
 */

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: object };
} & Record<string, unknown>;
type Values = Record<string, unknown>;

const ROOT = path.resolve(__dirname, "..");
const FIXTURE = path.join(__dirname, "fixtures", "pepr-build");

function lookup(values: Values, ref: string): unknown {
  if (!ref.startsWith(".Values.")) throw new Error(`render: unknown reference ${ref}`);
  return ref
    .slice(".Values.".length)
    .split(".")
    .reduce<unknown>((v, k) => (v as Values | undefined)?.[k], values);
}

/** Helm's rendering of the constructs podindex's templates use, and nothing more. */
function render(template: string, values: Values): string {
  const cond = /^\{\{- if (\S+) \}\}\n([\s\S]*)\{\{- end \}\}\n$/.exec(template);
  if (cond) return lookup(values, cond[1]) ? render(cond[2], values) : "";
  const out = template
    .replace(/\n\{\{- toYaml (\S+) \| nindent (\d+) \}\}/g, (_, ref: string, n: string) => {
      const pad = " ".repeat(Number(n));
      const text = yaml.dump(lookup(values, ref)).trimEnd();
      return "\n" + text.replace(/^/gm, pad);
    })
    .replace(/\{\{ (\S+) \| quote \}\}/g, (_, ref: string) => JSON.stringify(String(lookup(values, ref))))
    .replace(/\{\{ (\S+) \}\}/g, (_, ref: string) => String(lookup(values, ref)));
  if (out.includes("{{")) throw new Error(`render: a construct it does not know is left in:\n${out}`);
  return out;
}

const loadDocs = (text: string) => (yaml.loadAll(text) as (Obj | null)[]).filter((d): d is Obj => d !== null);

/** the chart's podindex objects, rendered with its values.yaml merged with `overrides.podindex` */
function renderChart(chart: string, overrides: Values = {}): Obj[] {
  const values = yaml.load(readFileSync(path.join(chart, "values.yaml"), "utf8")) as Values;
  values.podindex = { ...(values.podindex as Values), ...overrides };
  const dir = path.join(chart, "templates");
  return readdirSync(dir)
    .filter(f => f.startsWith("podindex-"))
    .flatMap(f => loadDocs(render(readFileSync(path.join(dir, f), "utf8"), values)));
}

const byKind = (docs: Obj[], kind: string) => docs.filter(d => d.kind === kind);
const one = (docs: Obj[], kind: string, name?: string) => {
  const found = docs.filter(d => d.kind === kind && (name === undefined || d.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0];
};
const watcherOf = (docs: Obj[]) => {
  const d = one(docs, "Deployment", "pepr-podindex-watcher") as unknown as V1Deployment;
  const pod = d.spec!.template.spec as V1PodSpec;
  const c = pod.containers.find(x => x.name === "watcher") as V1Container;
  return { d, pod, c };
};
const env = (c: V1Container) =>
  Object.fromEntries((c.env ?? []).filter(e => e.value !== undefined).map(e => [e.name, e.value!]));

const SA = { kind: "ServiceAccount", name: "pepr-podindex", namespace: "pepr-system" };
/** the RBAC podindex needs, written out (docs/install.md explains each rule) */
const EXPECTED_RBAC: Record<string, V1PolicyRule[]> = {
  "ClusterRole/pepr-podindex": [
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["podindex.dev"], resources: ["podindexes"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["podindex.dev"], resources: ["podindexes/status"], verbs: ["patch"] },
    { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
  ],
  "Role/pepr-system/pepr-podindex-store": [
    {
      apiGroups: ["pepr.dev"],
      resources: ["peprstores"],
      resourceNames: ["pepr-podindex-store", "pepr-podindex-schedule"],
      verbs: ["get", "list", "watch", "patch"],
    },
    { apiGroups: ["pepr.dev"], resources: ["peprstores"], verbs: ["create"] },
  ],
  "Role/pepr-system/pepr-podindex-lease": [
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: ["podindex-leader"],
      verbs: ["get", "update"],
    },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
  ],
  "Role/default/pepr-podindex-events": [{ apiGroups: [""], resources: ["events"], verbs: ["create"] }],
};

/** Everything a shipped set of objects must satisfy, manifest or rendered chart alike. */
function checkDeployment(docs: Obj[], expected: { replicas: number; port: number; trustedProxies: string }) {
  it("grants exactly the RBAC written out in EXPECTED_RBAC, bound to the watcher's ServiceAccount", () => {
    const roles = docs.filter(d => d.kind === "Role" || d.kind === "ClusterRole");
    const got = Object.fromEntries(
      roles.map(r => [[r.kind, r.metadata.namespace, r.metadata.name].filter(Boolean).join("/"), r.rules]),
    );
    expect(got).toEqual(EXPECTED_RBAC);
    for (const r of roles) {
      const binding = one(docs, r.kind === "Role" ? "RoleBinding" : "ClusterRoleBinding", r.metadata.name);
      expect(binding.metadata.namespace).toBe(r.metadata.namespace);
      expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: r.kind, name: r.metadata.name });
      expect(binding.subjects).toEqual([SA]);
    }
    expect(byKind(docs, "RoleBinding").length + byKind(docs, "ClusterRoleBinding").length).toBe(roles.length);
    expect(watcherOf(docs).pod.serviceAccountName).toBe(SA.name);
  });

  it("grants no wildcard, no delete, and Secrets get only", () => {
    const rules = docs.flatMap(d => (d.rules as V1PolicyRule[] | undefined) ?? []);
    for (const r of rules) {
      expect([...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]).not.toContain("*");
      expect(
        r.verbs.filter(v => ["delete", "deletecollection", "escalate", "bind", "impersonate"].includes(v)),
      ).toEqual([]);
      if (r.resources?.includes("secrets")) expect(r.verbs).toEqual(["get"]);
    }
  });

  it("rolls out with no lookup outage: replicas, RollingUpdate with maxUnavailable 0, a PodDisruptionBudget", () => {
    const { d } = watcherOf(docs);
    expect(d.spec!.replicas).toBe(expected.replicas);
    expect(d.spec!.replicas).toBeGreaterThanOrEqual(2);
    expect(d.spec!.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const pdb = one(docs, "PodDisruptionBudget");
    expect(pdb.metadata.namespace).toBe("pepr-system");
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: d.spec!.selector.matchLabels } });
    expect(d.spec!.template.metadata!.labels).toMatchObject(d.spec!.selector.matchLabels!);
  });

  it("probes podindex's port: ready on /readyz, alive on /healthz, on the port the server listens on", () => {
    const { c } = watcherOf(docs);
    const port = c.ports!.find(p => p.name === c.readinessProbe!.httpGet!.port);
    expect(port?.containerPort).toBe(expected.port);
    expect(loadConfig(env(c)).port).toBe(expected.port);
    expect(c.readinessProbe!.httpGet).toEqual({ path: "/readyz", port: "http", scheme: "HTTP" });
    expect(c.livenessProbe!.httpGet).toEqual({ path: "/healthz", port: "http", scheme: "HTTP" });
    expect(c.ports!.map(p => p.containerPort)).toEqual([expected.port]);
  });

  it("gives the drain time to finish: the grace period exceeds PODINDEX_DRAIN_SECONDS plus the 5 s close", () => {
    const { pod, c } = watcherOf(docs);
    const drain = loadConfig(env(c)).drainSeconds;
    expect(drain).toBe(loadConfig({}).drainSeconds);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drain + 5);
  });

  it("tells the pod its name and namespace (the Lease elector's identity) and the trusted proxies", () => {
    const { c } = watcherOf(docs);
    const byName = Object.fromEntries((c.env ?? []).map(e => [e.name, e]));
    expect(byName.POD_NAME.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(byName.POD_NAMESPACE.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } });
    expect(byName.PODINDEX_TRUSTED_PROXIES.value).toBe(expected.trustedProxies);
    expect(() => loadConfig(env(c))).not.toThrow();
  });

  it("runs hardened: non-root, read-only root filesystem, no capabilities, no escalation, seccomp", () => {
    const { pod, c } = watcherOf(docs);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(c.securityContext!.capabilities!.add).toBeUndefined();
    expect(c.securityContext!.privileged).toBeUndefined();
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.hostNetwork).toBeUndefined();
    // what it writes goes to an emptyDir; what it reads is mounted read-only
    for (const m of c.volumeMounts ?? []) {
      const vol = pod.volumes!.find(v => v.name === m.name)!;
      expect(vol.emptyDir !== undefined || m.readOnly === true, m.name).toBe(true);
    }
  });

  it("runs node with semi-spaces of 8 MiB: a young generation of at most 16 MiB, half of V8's default", () => {
    const { c } = watcherOf(docs);
    const flags = c.args!.slice(0, -2);
    expect(flags).toEqual(["--max-semi-space-size=8", "--initial-old-space-size=128"]);
    // objects that survive a while make V8 grow the young generation to its largest (32 MiB by default)
    const grow = [
      "const keep = [];",
      "for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2e5) keep.splice(0, 1e5); }",
      "const young = require('v8').getHeapSpaceStatistics().find(s => s.space_name === 'new_space');",
      "process.stdout.write(String(young.space_size / 2 ** 20));",
    ].join("\n");
    const run = spawnSync(process.execPath, [...flags, "-e", grow], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(Number(run.stdout)).toBeGreaterThan(0);
    expect(Number(run.stdout)).toBeLessThanOrEqual(16);
  });

  it("runs node with an old generation of 128 MiB before its first full collection, so that a small heap is not collected whole under updates", () => {
    const { c } = watcherOf(docs);
    const flags = c.args!.slice(0, -2);
    // objects that live, and about 90 MiB more that live long enough to be promoted (batches larger
    // than the young generation), then die: as the records of a small cache under updates
    const churn = [
      "const { PerformanceObserver, constants } = require('perf_hooks');",
      "let full = 0;",
      "new PerformanceObserver(l => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++; }).observe({ entryTypes: ['gc'] });",
      "const live = Array.from({ length: 2e5 }, (_, i) => ({ i, s: 'live' + i }));",
      "let batch = [];",
      "for (let i = 0; i < 1.2e6; i++) { batch.push({ i, s: 'gone' + i }); if (batch.length === 5e4) batch = []; }",
      "setTimeout(() => process.stdout.write(String(full) + ' ' + live.length), 100);",
    ].join("\n");
    const fullCollections = (nodeFlags: string[]) => {
      const run = spawnSync(process.execPath, [...nodeFlags, "-e", churn], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
      return Number(run.stdout.split(" ")[0]);
    };
    expect(fullCollections(flags)).toBe(0);
    // the same without the floor: V8 collects the whole heap well before 128 MiB
    expect(fullCollections(flags.filter(f => !f.startsWith("--initial-old-space-size")))).toBeGreaterThan(0);
  });

  it("starts the module through the shipped launcher, with the PeprStore CRD it no longer applies itself", () => {
    const { c, pod } = watcherOf(docs);
    expect(c.command).toEqual(["node"]);
    expect(c.args!.slice(-2)[0]).toBe("/podindex/watcher-launcher.cjs");
    expect(c.args!.slice(-1)[0]).toMatch(/^[a-f0-9]{64}$/);
    const mount = c.volumeMounts!.find(m => m.mountPath === "/podindex")!;
    const cm = pod.volumes!.find(v => v.name === mount.name)!.configMap!.name;
    expect(Object.keys(one(docs, "ConfigMap", cm).data as object)).toEqual(["watcher-launcher.cjs"]);
    expect(one(docs, "CustomResourceDefinition", "peprstores.pepr.dev").spec).toMatchObject({
      group: "pepr.dev",
      scope: "Namespaced",
      names: { kind: "PeprStore", plural: "peprstores" },
    });
  });

  it("serves lookups through a Service on the lookup port", () => {
    const { d } = watcherOf(docs);
    const svc = one(docs, "Service", "podindex");
    expect(svc.metadata.namespace).toBe("pepr-system");
    expect(svc.spec).toEqual({
      selector: d.spec!.selector.matchLabels,
      ports: [{ name: "http", port: expected.port, targetPort: "http", protocol: "TCP" }],
    });
  });

  it("sizes memory by the rule: at least the measured 301 MiB at 30k pods, limit above request", () => {
    const { c } = watcherOf(docs);
    const mib = (q: string) => Number(/^(\d+)Mi$/.exec(q)![1]);
    expect(mib(c.resources!.requests!.memory)).toBeGreaterThanOrEqual(301);
    expect(mib(c.resources!.limits!.memory)).toBeGreaterThan(mib(c.resources!.requests!.memory));
    expect(c.resources!.requests!.cpu).toBeDefined();
  });
}

function checkNetworkPolicy(docs: Obj[], clients: object[]) {
  const { d } = watcherOf(docs);
  const np = one(docs, "NetworkPolicy");
  expect(np.metadata.namespace).toBe("pepr-system");
  expect(np.spec).toEqual({
    podSelector: { matchLabels: d.spec!.selector.matchLabels },
    policyTypes: ["Ingress"],
    ingress: [{ from: clients, ports: [{ port: "http", protocol: "TCP" }] }],
  });
}

const DEFAULT_CLIENTS = [{ namespaceSelector: {}, podSelector: { matchLabels: { "podindex.dev/client": "true" } } }];

function checkServiceMonitor(docs: Obj[], labels: object) {
  const sm = one(docs, "ServiceMonitor", "podindex");
  const svc = one(docs, "Service", "podindex");
  expect(sm.metadata.labels).toEqual(labels);
  const spec = sm.spec as { selector: { matchLabels: object }; endpoints: object[] };
  expect(svc.metadata.labels).toMatchObject(spec.selector.matchLabels);
  expect(spec.endpoints).toEqual([{ port: "http", path: "/metrics", scheme: "http" }]);
}

/** A fresh copy of the recorded `pepr build` output, post-processed as `npm run build` does. */
function builtFixture() {
  const dist = mkdtempSync(path.join(tmpdir(), "podindex-dist-"));
  cpSync(FIXTURE, dist, { recursive: true });
  return { dist, ...postBuild(dist) };
}

describe("the built manifest (recorded pepr build output, post-processed)", () => {
  const built = builtFixture();
  const docs = loadDocs(readFileSync(built.manifest, "utf8"));
  checkDeployment(docs, { replicas: 2, port: 8080, trustedProxies: "" });

  it("admits only pods labelled podindex.dev/client=true to the lookup port", () => {
    checkNetworkPolicy(docs, DEFAULT_CLIENTS);
  });

  it("has a ServiceMonitor for the lookup port's /metrics in a file of its own (it needs the operator's CRD)", () => {
    expect(byKind(docs, "ServiceMonitor")).toEqual([]);
    const sm = loadDocs(readFileSync(path.join(built.dist, SERVICE_MONITOR_FILE), "utf8"));
    checkServiceMonitor([...sm, ...docs], { app: "pepr-podindex-watcher" });
  });

  it("keeps nothing of Pepr's that reaches :3000 (its Service; the ServiceMonitor on it)", () => {
    expect(docs.filter(d => d.kind === "Service").map(d => d.metadata.name)).toEqual(["podindex"]);
    expect(JSON.stringify(watcherOf(docs).c)).not.toContain("3000");
  });
});

describe("the built Helm chart", () => {
  const { chart } = builtFixture();
  const values = yaml.load(readFileSync(path.join(chart, "values.yaml"), "utf8")) as { podindex: Values };

  describe("with its default values", () => {
    const docs = renderChart(chart);
    checkDeployment(docs, { replicas: 2, port: 8080, trustedProxies: "" });
    it("admits the default clients and has no ServiceMonitor unless enabled", () => {
      checkNetworkPolicy(docs, DEFAULT_CLIENTS);
      expect(byKind(docs, "ServiceMonitor")).toEqual([]);
    });
  });

  describe("with values for replicas, port, trusted proxies, resources, clients and the ServiceMonitor", () => {
    const clients = [
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "caddy" } }, podSelector: {} },
    ];
    const resources = { requests: { cpu: "1", memory: "1024Mi" }, limits: { memory: "2048Mi" } };
    const docs = renderChart(chart, {
      replicas: 3,
      port: 9090,
      trustedProxies: "10.43.0.17/32",
      resources,
      networkPolicy: { enabled: true, clients },
      serviceMonitor: { enabled: true, labels: { release: "prometheus" } },
    });
    checkDeployment(docs, { replicas: 3, port: 9090, trustedProxies: "10.43.0.17/32" });
    it("uses each value", () => {
      checkNetworkPolicy(docs, clients);
      checkServiceMonitor(docs, { release: "prometheus" });
      expect(watcherOf(docs).c.resources).toEqual(resources);
      const proxies = loadConfig(env(watcherOf(docs).c)).trustedProxies;
      expect([proxies.trusts("10.43.0.17"), proxies.trusts("10.43.0.18")]).toEqual([true, false]);
    });
    it("leaves the NetworkPolicy out when disabled", () => {
      const off = renderChart(chart, { networkPolicy: { enabled: false, clients: [] } });
      expect(byKind(off, "NetworkPolicy")).toEqual([]);
    });
  });

  it("validates its values against values.schema.json, and refuses a wrong one", () => {
    const schema = JSON.parse(readFileSync(path.join(chart, "values.schema.json"), "utf8"));
    const validate = new Ajv({ strict: false }).compile(schema);
    const all = yaml.load(readFileSync(path.join(chart, "values.yaml"), "utf8")) as Values;
    expect(validate(all), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...all, podindex: { ...values.podindex, replicas: "two" } })).toBe(false);
    expect(validate({ ...all, podindex: { ...values.podindex, typo: 1 } })).toBe(false);
    // an empty `from`, or an empty peer, would admit every source to the lookup port
    for (const clients of [[], [{}]])
      expect(validate({ ...all, podindex: { ...values.podindex, networkPolicy: { enabled: true, clients } } })).toBe(
        false,
      );
  });

  it("names package.json's version as appVersion, and keeps no Pepr template that grants or runs anything", () => {
    // (Pepr's admission Service renders only with admission.enabled, false: podindex has no webhooks)
    const meta = yaml.load(readFileSync(path.join(chart, "Chart.yaml"), "utf8")) as Values;
    expect(meta.appVersion).toBe(version);
    const kept = readdirSync(path.join(chart, "templates")).filter(f => !f.startsWith("podindex-"));
    for (const f of kept) {
      const text = readFileSync(path.join(chart, "templates", f), "utf8");
      expect(text, f).not.toMatch(
        /^kind: (ClusterRole|ClusterRoleBinding|Role|RoleBinding|Deployment|ServiceMonitor)$/m,
      );
    }
  });
});

describe("the watcher launcher (shipped in the ConfigMap)", () => {
  let launcher = "";
  let app = "";
  beforeAll(() => {
    const { manifest } = builtFixture();
    const cm = one(loadDocs(readFileSync(manifest, "utf8")), "ConfigMap", "pepr-podindex-launcher");
    app = mkdtempSync(path.join(tmpdir(), "podindex-app-"));
    launcher = path.join(app, "watcher-launcher.cjs");
    writeFileSync(launcher, (cm.data as Record<string, string>)["watcher-launcher.cjs"]);
    mkdirSync(path.join(app, "load"));
    symlinkSync(path.join(ROOT, "node_modules"), path.join(app, "node_modules"));
  });
  const launch = (code: string, tamper = false) => {
    const hash = createHash("sha256").update(code).digest("hex");
    writeFileSync(path.join(app, "load", `module-${hash}.js.gz`), gzipSync(tamper ? `${code};` : code));
    return spawnSync(process.execPath, [launcher, hash], {
      env: { ...process.env, PODINDEX_APP_DIR: app },
      encoding: "utf8",
    });
  };

  it("runs the module whose hash the Deployment names, resolving packages from the image's /app", () => {
    const r = launch(`console.log(JSON.stringify({ ran: __filename, dump: typeof require("js-yaml").dump }))`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { ran: string; dump: string };
    expect(out.ran).toMatch(new RegExp(`^${app}/module-[0-9a-f]{64}\\.js$`));
    expect(out.dump).toBe("function");
  });

  it("refuses a module that does not match its hash", () => {
    const r = launch(`console.log("should not run")`, true);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("does not match its hash");
  });
});

// only after `npm run build` (CI builds first); vitest still runs a skipped describe's body, so it reads nothing then
const distBuilt = existsSync(path.join(ROOT, "dist", "pepr-module-podindex.yaml"));
describe.runIf(distBuilt)("dist/ (npm run build)", () => {
  const docs = distBuilt ? loadDocs(readFileSync(path.join(ROOT, "dist", "pepr-module-podindex.yaml"), "utf8")) : [];
  checkDeployment(docs, { replicas: 2, port: 8080, trustedProxies: "" });
  it("is what the post-processing makes (else: npm run build again)", () => {
    checkNetworkPolicy(docs, DEFAULT_CLIENTS);
    checkServiceMonitor([...loadDocs(readFileSync(path.join(ROOT, "dist", SERVICE_MONITOR_FILE), "utf8")), ...docs], {
      app: "pepr-podindex-watcher",
    });
  });
  it("runs the built module through the launcher: it loads, finds pepr in /app/node_modules, registers", async () => {
    const secret = one(docs, "Secret", "pepr-podindex-module").data as Record<string, string>;
    const app = mkdtempSync(path.join(tmpdir(), "podindex-app-"));
    mkdirSync(path.join(app, "load"));
    symlinkSync(path.join(ROOT, "node_modules"), path.join(app, "node_modules"));
    for (const [file, b64] of Object.entries(secret))
      writeFileSync(path.join(app, "load", file), Buffer.from(b64, "base64"));
    const launcher = path.join(app, "watcher-launcher.cjs");
    writeFileSync(
      launcher,
      (one(docs, "ConfigMap", "pepr-podindex-launcher").data as Record<string, string>)["watcher-launcher.cjs"],
    );
    // PEPR_MODE=build: the module reports its capabilities to its parent and starts nothing
    const { args } = watcherOf(docs).c;
    const child = fork(launcher, args!.slice(-1), {
      execArgv: args!.slice(0, -2),
      env: { ...process.env, PEPR_MODE: "build", PODINDEX_APP_DIR: app },
      stdio: "pipe",
    });
    const caps = await new Promise<{ name: string }[]>((resolve, reject) => {
      child.on("message", m => resolve(m as { name: string }[]));
      child.on("exit", code => reject(new Error(`the module exited (${code}) before it registered`)));
    });
    child.kill();
    expect(caps.map(c => c.name)).toEqual(["podindex"]);
  });
  describe("its chart", () => {
    checkDeployment(distBuilt ? renderChart(path.join(ROOT, "dist", "podindex-chart")) : [], {
      replicas: 2,
      port: 8080,
      trustedProxies: "",
    });
  });
});

describe("docs/install.md", () => {
  const doc = readFileSync(path.join(ROOT, "docs", "install.md"), "utf8");
  const built = builtFixture();
  it("names only files the build writes", () => {
    const named = [...new Set(doc.match(/dist\/[\w./-]+/g) ?? [])].map(p => p.replace(/[/.]$/, ""));
    expect(named.length).toBeGreaterThan(2);
    for (const p of named) {
      const rel = p.replace(/^dist\//, "");
      const exists = rel === "crds" ? existsSync(path.join(ROOT, "crds")) : existsSync(path.join(built.dist, rel));
      expect(exists, p).toBe(true);
    }
  });
  it("states the sizing rule the build applies", () => {
    expect(doc).toContain(`${SIZING.baseMiB} MiB + ${SIZING.perPodKiB} KiB per pod`);
    expect(doc).toContain(`${memoryRequestMiB(SIZING.pods)} MiB`);
  });
});

describe("examples/: the Grafana dashboard and the PrometheusRule", () => {
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, "examples", "grafana-dashboard.json"), "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const rules = yaml.load(readFileSync(path.join(ROOT, "examples", "prometheus-rules.yaml"), "utf8")) as {
    kind: string;
    spec: { groups: { rules: { alert: string; expr: string }[] }[] };
  };
  const alerts = rules.spec.groups.flatMap(g => g.rules);
  it("use only metric names src/metrics.ts exports", async () => {
    const metrics = new Metrics({ pods: () => 0, summaries: () => new Map(), sinks: () => new Map() });
    const defined = (await metrics.registry.getMetricsAsJSON()).flatMap(m =>
      String(m.type) === "histogram" ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name],
    );
    const exprs = [...dashboard.panels.flatMap(p => p.targets.map(t => t.expr)), ...alerts.map(a => a.expr)];
    const used = new Set(exprs.flatMap(e => e.match(/\bpodindex_[a-z_]+\b/g) ?? []));
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect(defined, name).toContain(name);
  });

  it("show lookups by result, latency, staleness per kind, status writes, sink health and the leader", () => {
    const shown = dashboard.panels.map(p => p.targets.map(t => t.expr).join(" "));
    for (const m of [
      "podindex_lookups_total",
      "podindex_lookup_duration_seconds_bucket",
      "podindex_staleness_seconds",
      "podindex_status_writes_total",
      "podindex_sink_ready",
      "podindex_leader",
    ])
      expect(
        shown.some(e => e.includes(m)),
        m,
      ).toBe(true);
  });

  it("alert on a stale watch, a failing sink, no leader and rising denied or conflicting lookups", () => {
    expect(rules.kind).toBe("PrometheusRule");
    const by = (name: string) => alerts.find(a => a.alert === name)?.expr ?? "";
    expect(by("PodindexWatchStale")).toContain("podindex_staleness_seconds");
    expect(by("PodindexSinkFailing")).toContain("podindex_sink_ready");
    expect(by("PodindexNoLeader")).toContain("podindex_leader");
    expect(by("PodindexDeniedOrConflictingLookupsRising")).toMatch(
      /podindex_lookups_total\{result=~"denied\|conflict"\}/,
    );
  });
});
