import { decodeLease } from "./leases";
import { PEPR_STORE_CRD } from "../../scripts/manifests";
import { CrdSchema } from "./schema";

/** The kinds the simulated apiserver serves: built-in ones, and those CRDs register. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- objects are arbitrary JSON
export type KObject = Record<string, any>;

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  /** writes to the main endpoint ignore status; /status writes change only status */
  statusSubresource: boolean;
  /** a custom resource (lists carry `continue: ""`, strategic merge patch is refused) */
  custom: boolean;
  printerColumns: PrinterColumn[];
  /** a CRD version's structural schema (pruning, defaulting, validation; CEL rules are not evaluated) */
  schema?: CrdSchema;
  /** a built-in's strict decoding of a request body (a 400 BadRequest), done before anything else */
  decode?: (obj: KObject) => void;
}

export const apiVersionOf = (t: ResourceType) => (t.group ? `${t.group}/${t.version}` : t.version);
export const typeKey = (group: string, version: string, plural: string) => `${group}/${version}/${plural}`;

function builtin(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  statusSubresource: boolean,
  shortNames: string[] = [],
): ResourceType {
  return {
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    statusSubresource,
    shortNames,
    custom: false,
    printerColumns: [],
  };
}

export const BUILTIN_TYPES: ResourceType[] = [
  builtin("", "v1", "Namespace", "namespaces", false, true, ["ns"]),
  builtin("", "v1", "Pod", "pods", true, true, ["po"]),
  builtin("", "v1", "Service", "services", true, true, ["svc"]),
  builtin("", "v1", "Secret", "secrets", true, false),
  builtin("", "v1", "ConfigMap", "configmaps", true, false, ["cm"]),
  builtin("", "v1", "ServiceAccount", "serviceaccounts", true, false, ["sa"]),
  builtin("", "v1", "Event", "events", true, false, ["ev"]),
  builtin("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, false),
  { ...builtin("coordination.k8s.io", "v1", "Lease", "leases", true, false), decode: decodeLease },
  builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, true, [
    "crd",
    "crds",
  ]),
];

/** The resource types a CustomResourceDefinition object declares (one per served version). */
export function typesFromCrd(crd: KObject): ResourceType[] {
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  return (spec.versions ?? [])
    .filter((v: KObject) => v.served !== false)
    .map((v: KObject) => ({
      group: spec.group,
      version: v.name,
      kind: names.kind,
      plural: names.plural,
      singular: names.singular ?? String(names.kind).toLowerCase(),
      namespaced: spec.scope !== "Cluster",
      shortNames: names.shortNames ?? [],
      statusSubresource: v.subresources?.status !== undefined,
      custom: true,
      printerColumns: v.additionalPrinterColumns ?? [],
      schema: v.schema?.openAPIV3Schema ? new CrdSchema(v.schema.openAPIV3Schema) : undefined,
    }));
}

/** Pepr's PeprStore CRD (pepr.dev/v1): the one the build ships in the module's manifests. */
export const peprStoreCrd: KObject = PEPR_STORE_CRD;
