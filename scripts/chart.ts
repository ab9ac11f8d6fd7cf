// Rewrites the Helm chart `pepr build` writes (dist/<name>-chart) to carry what
// scripts/manifests.ts makes of the manifest, with values for what operators tune.
// Each podindex template is the manifest object with Helm expressions in a few places: a
// scalar written "@@expr@@" becomes {{ expr }}, a key whose value is "@@toYaml expr@@" becomes
// that key with {{- toYaml expr | nindent N }} under it. Nothing else is templated, so the
// templates stay plain YAML that test/manifests.spec.ts renders with the chart's values.
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { V1Deployment } from "@kubernetes/client-node";
import yaml from "js-yaml";
import {
  APP,
  DEFAULT_CLIENTS,
  PORT,
  REPLICAS,
  resources,
  serviceMonitor,
  transformModule,
  type KubeObject,
  type Values,
} from "./manifests";

/** the chart's values for podindex (values.yaml `podindex:`), and their schema */
export const PODINDEX_VALUES = {
  image: "",
  replicas: REPLICAS,
  port: PORT,
  trustedProxies: "",
  resources: resources(),
  networkPolicy: { enabled: true, clients: DEFAULT_CLIENTS },
  serviceMonitor: { enabled: false, labels: { app: APP } },
};
const obj = { type: "object" };
export const PODINDEX_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["image", "replicas", "port", "trustedProxies", "resources", "networkPolicy", "serviceMonitor"],
  properties: {
    image: { type: "string", minLength: 1 },
    replicas: { type: "integer", minimum: 1 },
    port: { type: "integer", minimum: 1, maximum: 65535 },
    trustedProxies: { type: "string" },
    resources: obj,
    networkPolicy: {
      type: "object",
      additionalProperties: false,
      required: ["enabled", "clients"],
      // an empty `from` (or an empty peer) would admit every source: at least one non-empty peer
      properties: {
        enabled: { type: "boolean" },
        clients: { type: "array", minItems: 1, items: { type: "object", minProperties: 1 } },
      },
    },
    serviceMonitor: {
      type: "object",
      additionalProperties: false,
      required: ["enabled"],
      properties: { enabled: { type: "boolean" }, labels: obj },
    },
  },
};

/** the Helm expressions transformModule writes into the chart's objects */
export const CHART_EXPRESSIONS: Values = {
  image: "@@.Values.podindex.image@@",
  replicas: "@@.Values.podindex.replicas@@",
  port: "@@.Values.podindex.port@@",
  portString: "@@.Values.podindex.port | quote@@",
  trustedProxies: "@@.Values.podindex.trustedProxies | quote@@",
  resources: "@@toYaml .Values.podindex.resources@@",
  clients: "@@toYaml .Values.podindex.networkPolicy.clients@@",
};
/** templates of objects that only render when a value is true */
const CONDITIONS: Record<string, string> = {
  NetworkPolicy: ".Values.podindex.networkPolicy.enabled",
  ServiceMonitor: ".Values.podindex.serviceMonitor.enabled",
};
/** Pepr's templates podindex keeps as they are (the objects the manifest transform leaves alone) */
const KEPT_KINDS = new Set(["Namespace", "ServiceAccount", "Secret"]);
/** Pepr's templates podindex replaces or drops */
const REPLACED = [
  "cluster-role.yaml",
  "cluster-role-binding.yaml",
  "store-role.yaml",
  "store-role-binding.yaml",
  "watcher-deployment.yaml",
  "watcher-service.yaml",
  "watcher-service-monitor.yaml",
];
/** Pepr's values no kept template reads (rbac, watcher: podindex's templates read `podindex:`) */
const DROPPED_VALUES = ["rbac", "watcher", "imagePullSecrets", "additionalIgnoredNamespaces"];

/** one object as a Helm template */
export function template(doc: KubeObject): string {
  const text = yaml
    .dump(doc, { lineWidth: -1, noRefs: true })
    .replace(/^( *(?:- )*)([^\s:]+): '@@toYaml (.+?)@@'$/gm, (_, lead: string, key: string, expr: string) => {
      return `${lead}${key}:\n{{- toYaml ${expr} | nindent ${lead.length + 2} }}`;
    })
    .replace(/'@@(.+?)@@'/g, (_, expr: string) => `{{ ${expr} }}`);
  if (text.includes("@@"))
    throw new Error(`a Helm expression was left unexpanded in ${doc.kind} ${doc.metadata?.name}`);
  const condition = CONDITIONS[doc.kind];
  return condition ? `{{- if ${condition} }}\n${text}{{- end }}\n` : text;
}

const fileName = (doc: KubeObject): string =>
  `podindex-${doc.kind.replace(/[a-z](?=[A-Z])/g, m => `${m}-`).toLowerCase()}-${doc.metadata?.name}.yaml`;

/**
 * Rewrite `chartDir` (what `pepr build` wrote) given the stock manifest documents; `version` is
 * package.json's, the chart's appVersion.
 */
export function postProcessChart(chartDir: string, stockDocs: KubeObject[], version: string): string[] {
  const templates = path.join(chartDir, "templates");
  for (const f of REPLACED) rmSync(path.join(templates, f), { force: true });
  const deployment = stockDocs.find(d => d.kind === "Deployment") as V1Deployment | undefined;
  const watcherImage = deployment?.spec?.template.spec?.containers[0]?.image;
  if (!watcherImage) throw new Error("pepr build's manifest has no watcher image");
  const docs = transformModule(stockDocs, CHART_EXPRESSIONS).filter(d => !KEPT_KINDS.has(d.kind));
  const monitor = serviceMonitor("@@toYaml .Values.podindex.serviceMonitor.labels@@");
  for (const doc of [...docs, monitor]) writeFileSync(path.join(templates, fileName(doc)), template(doc));

  const valuesFile = path.join(chartDir, "values.yaml");
  const values = yaml.load(readFileSync(valuesFile, "utf8")) as Record<string, unknown>;
  for (const k of DROPPED_VALUES) delete values[k];
  values.podindex = { ...PODINDEX_VALUES, image: watcherImage };
  writeFileSync(valuesFile, yaml.dump(values, { lineWidth: -1, noRefs: true }));

  const schemaFile = path.join(chartDir, "values.schema.json");
  const schema = JSON.parse(readFileSync(schemaFile, "utf8")) as {
    $schema: string;
    definitions: { Values: { properties: Record<string, unknown>; required: string[] } };
  };
  const root = schema.definitions.Values;
  for (const k of DROPPED_VALUES) delete root.properties[k];
  root.required = [...root.required.filter(k => !DROPPED_VALUES.includes(k)), "podindex"];
  root.properties.podindex = PODINDEX_SCHEMA;
  // Pepr writes draft-06; nothing here differs in draft-07, which Helm and ajv both know
  schema.$schema = "http://json-schema.org/draft-07/schema#";
  writeFileSync(schemaFile, `${JSON.stringify(schema, null, 2)}\n`);

  const chartFile = path.join(chartDir, "Chart.yaml");
  const chart = yaml.load(readFileSync(chartFile, "utf8")) as Record<string, unknown>;
  writeFileSync(chartFile, yaml.dump({ ...chart, appVersion: version }, { lineWidth: -1 }));
  return readdirSync(templates).sort();
}
