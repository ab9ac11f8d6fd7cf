import { GenericKind, RegisterKind } from "kubernetes-fluent-client";

/** A standard Kubernetes label selector (metav1.LabelSelector). */
export interface LabelSelectorRequirement {
  key: string;
  /** In, NotIn, Exists or DoesNotExist */
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Which pod metadata a PodIndex exposes in lookups. */
export interface ExposeSpec {
  /** label keys to expose; ["*"] (the default) exposes every label, [] none */
  labels?: string[];
  /** annotation keys to expose; none by default, since annotations can hold secrets */
  annotations?: string[];
}

/** A cross-namespace grant: callers in `from` may call targets in `namespace`. */
export interface ForwardAuthGrant {
  /** the target namespace */
  namespace: string;
  /** only these target names in it; absent means any */
  names?: string[];
  /** caller namespaces; "*" means any caller this PodIndex serves */
  from: string[];
}

/** Where the target of a call is read from when the request has no ?namespace= parameter. */
export interface ForwardAuthTargetPattern {
  /** X-Forwarded-Uri or X-Forwarded-Host */
  header: string;
  /** a regular expression with the named groups `namespace` and/or `name` */
  regex: string;
  /** the target namespace when the regex has no `namespace` group (e.g. Fission's default namespace) */
  namespace?: string;
}

/** This PodIndex's forward-auth policy; GET /v1/forward-auth uses it (absent: it answers no forward-auth). */
export interface ForwardAuthSpec {
  /** allow callers in the target's own namespace (default true) */
  sameNamespace?: boolean;
  /** further namespaces allowed to call each target namespace */
  allow?: ForwardAuthGrant[];
  /** callers must also match this label selector */
  callerSelector?: LabelSelector;
  /** callers must also run as one of these service accounts ("name" in the caller's namespace, or "namespace/name") */
  serviceAccounts?: string[];
  target?: { patterns?: ForwardAuthTargetPattern[] };
  /** caller label keys passed upstream in the X-Podindex-Labels header */
  headers?: { labels?: string[] };
}

/** Where a PodIndex mirrors its Services' ready endpoints in PostgreSQL. */
export interface PostgresSinkSpec {
  /** a Secret with the keys PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE */
  secretRef: { name: string; namespace: string };
  /** "table" or "schema.table" (default public.server) */
  table?: string;
  /** written into the cluster column (default "default") */
  cluster?: string;
  /**
   * create the schema, table and indexes when missing (default true; needs CREATE rights). false: the
   * table must exist with observer's columns and key, and DML on it suffices
   */
  createSchema?: boolean;
}

/** Which EndpointSlices a PodIndex follows (within its namespaces), and where it mirrors them. */
export interface ServicesSpec {
  /** a label selector on EndpointSlices (as ENDPOINT_SELECTOR); absent or empty: every slice */
  selector?: LabelSelector;
  postgres?: PostgresSinkSpec;
}

export interface PodIndexSpec {
  /** namespaces whose pods are indexed; empty or absent means all */
  namespaces?: string[];
  /** pods must match this selector; absent or empty selects every pod */
  podSelector?: LabelSelector;
  expose?: ExposeSpec;
  forwardAuth?: ForwardAuthSpec;
  services?: ServicesSpec;
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface PodIndexStatus {
  observedGeneration?: number;
  pods?: number;
  ips?: number;
  conflicts?: number;
  namespaces?: number;
  /** Services this PodIndex follows (with at least one slice) */
  services?: number;
  /** endpoints of those Services, and how many are ready */
  endpoints?: number;
  readyEndpoints?: number;
  lastSyncTime?: string;
  conditions?: Condition[];
}

export class PodIndex extends GenericKind {
  declare spec?: PodIndexSpec;
  declare status?: PodIndexStatus;
}

export const PODINDEX_GVK = {
  group: "podindex.dev",
  version: "v1alpha1",
  kind: "PodIndex",
  plural: "podindexes",
} as const;

RegisterKind(PodIndex, PODINDEX_GVK);
