// Turns what `pepr build` writes (the stock Pepr watcher) into podindex's deployment: replicas
// that survive a rollout, probes on podindex's own port, least-privilege RBAC, a hardened pod, a
// NetworkPolicy, a Service and a ServiceMonitor for the lookup port; the Helm chart the same.
// Structural: YAML is parsed (js-yaml), objects are changed, YAML is written. docs/install.md
// explains each choice; test/manifests.spec.ts checks them on a recorded `pepr build` output.
import type { V1Deployment, V1PolicyRule } from "@kubernetes/client-node";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

/** a Kubernetes object as YAML holds it */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** Sizing inputs (see SIZING). */
export interface Sizing {
  baseMiB: number;
  perPodKiB: number;
  pods: number;
  limitFactor: number;
  cpuRequest: string;
}

/**
 * Memory sizing, the one place to change it: the bench measured about 301 MiB RSS at 30k
 * realistic pods. request = baseMiB + perPodKiB × pods, rounded up to 32 MiB; limit =
 * limitFactor × request (a relist holds the new list beside the cache for a moment).
 */
export const SIZING: Sizing = { baseMiB: 100, perPodKiB: 7, pods: 30_000, limitFactor: 2, cpuRequest: "250m" };

/** the memory request in MiB for a cluster of `pods` pods */
export function memoryRequestMiB(pods = SIZING.pods, sizing = SIZING): number {
  return Math.ceil((sizing.baseMiB + (sizing.perPodKiB * pods) / 1024) / 32) * 32;
}

export function resources(sizing = SIZING): { requests: Record<string, string>; limits: Record<string, string> } {
  const request = memoryRequestMiB(sizing.pods, sizing);
  // No CPU limit: throttling delays every lookup; the request reserves what the index needs.
  return {
    requests: { cpu: sizing.cpuRequest, memory: `${request}Mi` },
    limits: { memory: `${request * sizing.limitFactor}Mi` },
  };
}

export const NAMESPACE = "pepr-system";
export const NAME = "pepr-podindex";
export const APP = `${NAME}-watcher`;
export const REPLICAS = 2;
/** src/config.ts: PORT's default, and the name of the Service port the build writes */
export const PORT = 8080;
export const PORT_NAME = "http";
/**
 * node's flags for the watcher: semi-spaces of 8 MiB, not the 16 MiB V8 grows them to here, and an
 * old generation allowed 128 MiB before its first full collection. V8 starts a full collection
 * whenever the old generation's room before its limit is smaller than the young generation (2
 * semi-spaces). A small cache leaves less room than 32 MiB after every full collection (50 MiB of
 * heap at 1k pods, room 23 MiB), so under 1,000 pod updates a second the module collected every
 * 350 ms, each holding the event loop 5–20 ms (forward-auth p99 16 ms,
 * `--trace-incremental-marking`). With 4 MiB, in one bench run each: forward-auth p99 5.1 ms at 1k
 * and 3.8 ms at 100k, and 13 % less RSS at 100k. Still, each scavenge promotes the new pods'
 * records, and at 1k the limit V8 then sets after a full collection is a few MiB past the live
 * heap: 5 full collections in 8 s of the bench's load (pauses 3–14 ms), none with the floor, and
 * forward-auth p99 11.5 and 15.1 ms against 6.0 and 4.9 (docs/performance.md). The floor does
 * nothing once the live heap is past it (about 200 MiB at 100k pods). node refuses it in
 * NODE_OPTIONS: it is on the command line. With the floor, 8 MiB rather than 4: at 100k each
 * scavenge costs about 0.9 ms whatever its size, and 4 MiB ones came every 15 ms under 16 clients:
 * podindex alone answered 0.87–1.09× the constant route's lookups a second in four runs against
 * 0.63–0.79× with 4 MiB, forward-auth and lag p99 alike (docs/performance.md).
 */
export const NODE_FLAGS = ["--max-semi-space-size=8", "--initial-old-space-size=128"];
/** src/config.ts: PODINDEX_DRAIN_SECONDS' default; after it the server has 5 s to close */
export const DRAIN_SECONDS = 10;
export const GRACE_SECONDS = DRAIN_SECONDS + 5 + 5;
/** the Lease the leader elector holds, in the watcher's namespace */
export const LEASE = "podindex-leader";
/** cluster-scoped PodIndexes' Events go to namespace default (src/events.ts coreEvent) */
export const EVENTS_NAMESPACE = "default";
/** pods with this label (in any namespace) may call the lookup port; the Helm chart makes it a value */
export const CLIENT_LABEL = "podindex.dev/client";
export const DEFAULT_CLIENTS = [{ namespaceSelector: {}, podSelector: { matchLabels: { [CLIENT_LABEL]: "true" } } }];
/** the Pepr stores the watcher's runtime keeps (node_modules/pepr/dist/lib.js StoreController) */
export const PEPR_STORES = [`${NAME}-store`, `${NAME}-schedule`];
const LAUNCHER_DIR = "/podindex";
const LAUNCHER = path.join(__dirname, "watcher-launcher.cjs");

const rule = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]): V1PolicyRule => ({
  apiGroups,
  resources,
  ...(resourceNames ? { resourceNames } : {}),
  verbs,
});

/** What the watcher may do cluster-wide: read what it indexes, write PodIndex status, read Secrets by name. */
export const CLUSTER_RULES = [
  rule([""], ["pods"], ["get", "list", "watch"]),
  rule(["discovery.k8s.io"], ["endpointslices"], ["get", "list", "watch"]),
  rule(["podindex.dev"], ["podindexes"], ["get", "list", "watch"]),
  rule(["podindex.dev"], ["podindexes/status"], ["patch"]),
  // A PodIndex's spec.services.postgres.secretRef may name a Secret in any namespace, which no
  // static Role can foresee: get by name only, never list or watch (docs/install.md, "RBAC").
  rule([""], ["secrets"], ["get"]),
];
/** Pepr's runtime: its PeprStores in pepr-system (create cannot be limited to a name) */
export const STORE_RULES = [
  rule(["pepr.dev"], ["peprstores"], ["get", "list", "watch", "patch"], PEPR_STORES),
  rule(["pepr.dev"], ["peprstores"], ["create"]),
];
/** the leader elector's Lease (create cannot be limited to a name) */
export const LEASE_RULES = [
  rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [LEASE]),
  rule(["coordination.k8s.io"], ["leases"], ["create"]),
];
/** src/events.ts: Events are created (POST), never patched */
export const EVENT_RULES = [rule([""], ["events"], ["create"])];

/** The PeprStore CRD, as node_modules/pepr/dist/controller.js applies it at start-up (the launcher does not). */
export const PEPR_STORE_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "peprstores.pepr.dev" },
  spec: {
    group: "pepr.dev",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: { data: { type: "object", additionalProperties: { type: "string" } } },
          },
        },
      },
    ],
    scope: "Namespaced",
    names: { plural: "peprstores", singular: "peprstore", kind: "PeprStore" },
  },
};

const selector = { app: APP, "pepr.dev/controller": "watcher" };

function role(name: string, namespace: string, rules: V1PolicyRule[]): KubeObject[] {
  return [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name, namespace }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name: NAME, namespace: NAMESPACE }],
    },
  ];
}

/**
 * The values that differ between the plain manifests and the chart: plain values here, Helm
 * expressions (strings) when scripts/chart.ts writes templates.
 */
export interface Values {
  /** the watcher's image; undefined keeps Pepr's */
  image?: string;
  replicas: number | string;
  port: number | string;
  /** the port as an env value */
  portString: string;
  trustedProxies: string;
  resources: object | string;
  /** NetworkPolicy `from` peers */
  clients: object[] | string;
}

export const PLAIN: Values = {
  image: undefined,
  replicas: REPLICAS,
  port: PORT,
  portString: String(PORT),
  trustedProxies: "",
  resources: resources(),
  clients: DEFAULT_CLIENTS,
};

const find = (docs: KubeObject[], kind: string, name: string): KubeObject => {
  const doc = docs.find(d => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`pepr build output has no ${kind} ${name}`);
  return doc;
};

/** the watcher Deployment, hardened and made to survive a rollout */
function watcher(stock: KubeObject, v: Values): KubeObject {
  const d = structuredClone(stock) as unknown as V1Deployment & KubeObject;
  const spec = d.spec;
  const pod = spec?.template.spec;
  const c = pod?.containers.find(x => x.name === "watcher");
  if (!spec || !pod || !c) throw new Error("pepr build's watcher Deployment has no container named watcher");
  const hash = c.args?.find(a => /^[a-f0-9]{64}$/.test(a));
  if (!hash) throw new Error("pepr build's watcher container names no module hash in its args");

  if (v.image !== undefined) c.image = v.image;
  // a number in the manifest, a Helm expression in the chart
  spec.replicas = v.replicas as number;
  spec.strategy = { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } };
  pod.terminationGracePeriodSeconds = GRACE_SECONDS;
  pod.securityContext = { ...pod.securityContext, seccompProfile: { type: "RuntimeDefault" } };
  pod.affinity = {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: selector } },
        },
      ],
    },
  };
  c.command = ["node"];
  c.args = [...NODE_FLAGS, `${LAUNCHER_DIR}/watcher-launcher.cjs`, hash];
  c.ports = [{ name: PORT_NAME, containerPort: v.port as number, protocol: "TCP" }];
  const probe = (p: string, extra: object) => ({ httpGet: { path: p, port: PORT_NAME, scheme: "HTTP" }, ...extra });
  // Ready: synced and fresh (/readyz also fails while draining). Alive: the event loop answers.
  c.readinessProbe = probe("/readyz", { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 });
  c.livenessProbe = probe("/healthz", { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 });
  const env = (c.env ?? []).filter(
    e => !["PORT", "PODINDEX_TRUSTED_PROXIES", "POD_NAME", "POD_NAMESPACE"].includes(e.name),
  );
  c.env = [
    ...env,
    { name: "PORT", value: v.portString },
    { name: "PODINDEX_DRAIN_SECONDS", value: String(DRAIN_SECONDS) },
    { name: "PODINDEX_TRUSTED_PROXIES", value: v.trustedProxies },
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
  ].filter((e, i, all) => all.findIndex(x => x.name === e.name) === i);
  c.resources = v.resources as object;
  c.securityContext = {
    runAsUser: 65532,
    runAsGroup: 65532,
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
  c.volumeMounts = [
    ...(c.volumeMounts ?? []),
    { name: "launcher", mountPath: LAUNCHER_DIR, readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
  ];
  pod.volumes = [
    ...(pod.volumes ?? []),
    { name: "launcher", configMap: { name: `${NAME}-launcher` } },
    { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
  ];
  return d;
}

/** the objects podindex adds beside the Deployment, from the values `v` */
function extras(v: Values): KubeObject[] {
  const meta = (name: string, namespace = NAMESPACE) => ({ name, namespace, labels: { app: APP } });
  return [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta(`${NAME}-launcher`),
      data: { "watcher-launcher.cjs": readFileSync(LAUNCHER, "utf8") },
    },
    {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta(APP),
      spec: { minAvailable: 1, selector: { matchLabels: selector } },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { ...meta("podindex"), labels: { app: APP, "podindex.dev/port": PORT_NAME } },
      spec: {
        selector,
        ports: [{ name: PORT_NAME, port: v.port, targetPort: PORT_NAME, protocol: "TCP" }],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("podindex-lookups"),
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ["Ingress"],
        ingress: [{ from: v.clients, ports: [{ port: PORT_NAME, protocol: "TCP" }] }],
      },
    },
    ...role(`${NAME}-lease`, NAMESPACE, LEASE_RULES),
    ...role(`${NAME}-events`, EVENTS_NAMESPACE, EVENT_RULES),
  ];
}

/** the ServiceMonitor: podindex's /metrics on the lookup port (Pepr's chart scrapes :3000) */
export function serviceMonitor(labels: object | string = { app: APP }): KubeObject {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: { name: "podindex", namespace: NAMESPACE, labels },
    spec: {
      selector: { matchLabels: { app: APP, "podindex.dev/port": PORT_NAME } },
      namespaceSelector: { matchNames: [NAMESPACE] },
      endpoints: [{ port: PORT_NAME, path: "/metrics", scheme: "http" }],
    },
  };
}

/**
 * `pepr build`'s manifest documents → podindex's. `v` holds the values the chart templates
 * (PLAIN for the kubectl manifest). Pepr's admin ClusterRole gives way to CLUSTER_RULES, its
 * store Role (bound to a ServiceAccount that does not exist) to STORE_RULES bound to the
 * watcher's, and Pepr's :3000 Service (nothing scrapes it now) to the lookup Service.
 */
export function transformModule(docs: (KubeObject | null | undefined)[], v: Values = PLAIN): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of docs) {
    if (!doc) continue;
    if (doc.kind === "Deployment" && doc.metadata?.name === APP) out.push(watcher(doc, v));
    else if (doc.kind === "ClusterRole" && doc.metadata?.name === NAME) out.push({ ...doc, rules: CLUSTER_RULES });
    else if (doc.kind === "Role" && doc.metadata?.name === `${NAME}-store`) out.push({ ...doc, rules: STORE_RULES });
    else if (doc.kind === "RoleBinding" && doc.metadata?.name === `${NAME}-store`)
      out.push({ ...doc, subjects: [{ kind: "ServiceAccount", name: NAME, namespace: NAMESPACE }] });
    else if (doc.kind === "Service" && doc.metadata?.name === APP) continue;
    else out.push(doc);
  }
  find(out, "Deployment", APP);
  find(out, "ClusterRole", NAME);
  find(out, "Role", `${NAME}-store`);
  const ns = out.findIndex(d => d.kind === "Namespace");
  out.splice(ns + 1, 0, PEPR_STORE_CRD);
  return [...out, ...extras(v)];
}

export const dumpAll = (docs: KubeObject[]): string =>
  docs.map(d => yaml.dump(d, { lineWidth: -1, noRefs: true })).join("---\n");

/** the one pepr-module-*.yaml `pepr build` wrote to `dist` */
export function findManifest(dist: string): string {
  const files = existsSync(dist) ? readdirSync(dist).filter(f => /^pepr-module-.*\.yaml$/.test(f)) : [];
  if (files.length !== 1) throw new Error(`expected one pepr-module-*.yaml in ${dist}, found ${files.length}`);
  return path.join(dist, files[0]);
}
