import { createHash } from "node:crypto";
import { apiVersionOf, type KObject, type ResourceType } from "./resources";

/**
 * OpenAPI v3 as kube-apiserver v1.32 serves it (transcript 11, steps 1a–1c): `/openapi/v3`, an
 * index of group-versions (served as text/plain, with no-cache), and one document per
 * group-version whose `serverRelativeURL` carries a content hash (with that hash: cached
 * `public, immutable`). Each document has the paths of the group-version's resources, their
 * operations' query parameters (kubectl apply looks for `fieldValidation` on PATCH to leave field
 * validation to the server) and `x-kubernetes-group-version-kind`. Custom resources carry their
 * CRD's schema; built-in kinds a schema that accepts any field (their real schemas are not simulated).
 */

const string = { type: "string", uniqueItems: true };
const param = (name: string, description: string, schema: KObject = string) => ({
  name,
  in: "query",
  description,
  schema,
});
const PRETTY = param("pretty", "If 'true', then the output is pretty printed.");
const DRY_RUN = param(
  "dryRun",
  "When present, indicates that modifications should not be persisted. Valid values are: - All",
);
const FIELD_MANAGER = param(
  "fieldManager",
  "fieldManager is a name associated with the actor or entity that is making these changes.",
);
const FIELD_VALIDATION = param(
  "fieldValidation",
  "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields: Ignore, Warn (the default) or Strict.",
);
const FORCE = param("force", 'Force is going to "force" Apply requests.', { type: "boolean", uniqueItems: true });
const LIST_PARAMS = [
  "allowWatchBookmarks",
  "continue",
  "fieldSelector",
  "labelSelector",
  "limit",
  "resourceVersion",
  "resourceVersionMatch",
  "sendInitialEvents",
  "timeoutSeconds",
  "watch",
].map(name =>
  param(
    name,
    `the ${name} list option`,
    ["allowWatchBookmarks", "sendInitialEvents", "watch"].includes(name)
      ? { type: "boolean", uniqueItems: true }
      : ["limit", "timeoutSeconds"].includes(name)
        ? { type: "integer", uniqueItems: true }
        : string,
  ),
);
const DELETE_PARAMS = ["dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"].map(name =>
  name === "dryRun" ? DRY_RUN : param(name, `the ${name} delete option`),
);

/** The name of a kind's schema in `components.schemas`, as kube-openapi forms it. */
export function schemaName(t: ResourceType): string {
  if (t.custom) return `${t.group.split(".").reverse().join(".")}.${t.version}.${t.kind}`;
  if (t.group === "apiextensions.k8s.io")
    return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${t.version}.${t.kind}`;
  const pkg = t.group === "" ? "core" : t.group.replace(/\.k8s\.io$/, "");
  return `io.k8s.api.${pkg}.${t.version}.${t.kind}`;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const content = (types: string[], schema: KObject) => Object.fromEntries(types.map(type => [type, { schema }]));

function operations(t: ResourceType, prefix: string): Record<string, KObject> {
  const gvk = { group: t.group, version: t.version, kind: t.kind };
  const camel = (s: string) =>
    s
      .split(/[.-]/)
      .map(p => p.charAt(0).toUpperCase() + p.slice(1))
      .join("");
  const id = (verb: string, suffix = "") =>
    `${verb}${t.group ? camel(t.group.replace(/\.k8s\.io$/, "")) : "Core"}${camel(t.version)}${t.namespaced ? "Namespaced" : ""}${t.kind}${suffix}`;
  const obj = ref(schemaName(t));
  const list = ref(`${schemaName(t)}List`);
  const body = { content: content(["application/json", "application/yaml"], obj), required: true };
  const ok = (schema: KObject) => ({
    "200": { description: "OK", content: content(["application/json", "application/yaml"], schema) },
    "401": { description: "Unauthorized" },
  });
  const op = (verb: string, action: string, parameters: KObject[], extra: KObject = {}, suffix = "") => ({
    tags: [`${t.group ? camel(t.group) : "core"}_${t.version}`],
    description: `${verb} ${t.kind}`,
    operationId: id(verb, suffix),
    parameters,
    ...extra,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
  });
  // strategic merge patch is left out even for built-ins: without their real schemas (patch keys),
  // kubectl then computes it from its own compiled-in types, as it does for a server without OpenAPI
  const patchTypes = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"];
  const item = (suffix: string) => ({
    get: op("read", "get", [param("resourceVersion", "the resourceVersion to read")], { responses: ok(obj) }, suffix),
    put: op(
      "replace",
      "put",
      [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
      { requestBody: body, responses: ok(obj) },
      suffix,
    ),
    patch: op(
      "patch",
      "patch",
      [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE],
      {
        requestBody: {
          content: content(patchTypes, ref("io.k8s.apimachinery.pkg.apis.meta.v1.Patch")),
          required: true,
        },
        responses: ok(obj),
      },
      suffix,
    ),
    parameters: [
      { name: "name", in: "path", description: `name of the ${t.kind}`, required: true, schema: string },
      PRETTY,
    ],
  });
  const collection = `${prefix}${t.namespaced ? "/namespaces/{namespace}" : ""}/${t.plural}`;
  const nsParam = t.namespaced
    ? [{ name: "namespace", in: "path", description: "object name and auth scope", required: true, schema: string }]
    : [];
  const paths: Record<string, KObject> = {
    [collection]: {
      get: op("list", "list", LIST_PARAMS, { responses: ok(list) }),
      post: op("create", "post", [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], { requestBody: body, responses: ok(obj) }),
      delete: op("deletecollection", "deletecollection", LIST_PARAMS, {
        responses: ok(ref("io.k8s.apimachinery.pkg.apis.meta.v1.Status")),
      }),
      parameters: [...nsParam, PRETTY],
    },
    [`${collection}/{name}`]: {
      ...item(""),
      delete: op("delete", "delete", DELETE_PARAMS, {
        responses: ok(ref("io.k8s.apimachinery.pkg.apis.meta.v1.Status")),
      }),
      parameters: [...nsParam, ...item("").parameters],
    },
  };
  if (t.statusSubresource) {
    const status = item("Status");
    paths[`${collection}/{name}/status`] = { ...status, parameters: [...nsParam, ...status.parameters] };
  }
  if (t.namespaced) {
    paths[`${prefix}/${t.plural}`] = {
      get: op("list", "list", LIST_PARAMS, { responses: ok(list) }, "ForAllNamespaces"),
      parameters: [PRETTY],
    };
  }
  return paths;
}

const META = "io.k8s.apimachinery.pkg.apis.meta.v1";
const META_SCHEMAS: Record<string, KObject> = Object.fromEntries(
  ["ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch"].map(kind => [
    `${META}.${kind}`,
    { type: "object", "x-kubernetes-preserve-unknown-fields": true },
  ]),
);

function schemas(t: ResourceType): Record<string, KObject> {
  const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
  const declared: KObject | undefined = t.schema?.openAPIV3Schema;
  const schema: KObject = declared
    ? {
        ...declared,
        properties: { ...declared.properties, metadata: { allOf: [ref(`${META}.ObjectMeta`)] } },
      }
    : {
        description: `${t.kind} (the simulator does not carry the built-in schema: any field is accepted)`,
        type: "object",
        "x-kubernetes-preserve-unknown-fields": true,
      };
  return {
    [schemaName(t)]: { ...schema, "x-kubernetes-group-version-kind": gvk },
    [`${schemaName(t)}List`]: {
      type: "object",
      required: ["items"],
      properties: {
        apiVersion: { type: "string" },
        items: { type: "array", items: ref(schemaName(t)) },
        kind: { type: "string" },
        metadata: { allOf: [ref(`${META}.ListMeta`)] },
      },
      "x-kubernetes-group-version-kind": [{ ...gvk[0], kind: `${t.kind}List` }],
    },
  };
}

/** The OpenAPI v3 document of one group-version. */
export function groupVersionDocument(types: ResourceType[]): KObject {
  const prefix = types[0].group ? `/apis/${types[0].group}/${types[0].version}` : `/api/${types[0].version}`;
  return {
    openapi: "3.0.0",
    info: { title: types.some(t => t.custom) ? "Kubernetes CRD Swagger" : "Kubernetes", version: "v0.1.0" },
    paths: Object.assign({}, ...types.map(t => operations(t, prefix))),
    components: { schemas: Object.assign({ ...META_SCHEMAS }, ...types.map(schemas)) },
  };
}

/** `api/v1`, `apis/podindex.dev/v1alpha1`: the keys of the index. */
const indexKey = (t: ResourceType) => (t.group ? `apis/${apiVersionOf(t)}` : `api/${t.version}`);

const hashOf = (text: string) => createHash("sha512").update(text).digest("hex").toUpperCase();

/**
 * The answer to a GET under /openapi/v3, or undefined for another path (or an unknown
 * group-version, which upstream answers with a plain 404).
 */
export function openApiV3(
  types: ResourceType[],
  path: string,
  query: URLSearchParams,
): { body: string; headers: Record<string, string> } | undefined {
  if (path !== "/openapi/v3" && !path.startsWith("/openapi/v3/")) return undefined;
  const groups = new Map<string, ResourceType[]>();
  for (const t of types) groups.set(indexKey(t), [...(groups.get(indexKey(t)) ?? []), t]);
  const documents = new Map([...groups].map(([key, members]) => [key, JSON.stringify(groupVersionDocument(members))]));
  if (path === "/openapi/v3") {
    const paths = Object.fromEntries(
      [...documents].map(([key, text]) => [key, { serverRelativeURL: `/openapi/v3/${key}?hash=${hashOf(text)}` }]),
    );
    return {
      body: JSON.stringify({ paths }),
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, private" },
    };
  }
  const text = documents.get(path.slice("/openapi/v3/".length));
  if (text === undefined) return undefined;
  const hash = hashOf(text);
  const immutable = query.get("hash") === hash;
  return {
    body: text,
    headers: {
      "content-type": "application/json",
      "cache-control": immutable ? "public, immutable" : "no-cache, private",
      ...(immutable ? { expires: new Date(Date.now() + 365 * 86400_000).toUTCString() } : {}),
      etag: `"${hash}"`,
      vary: "Accept",
      "x-varied-accept": "application/json",
    },
  };
}
