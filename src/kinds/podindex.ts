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

export interface PodIndexSpec {
  /** namespaces whose pods are indexed; empty or absent means all */
  namespaces?: string[];
  /** pods must match this selector; absent or empty selects every pod */
  podSelector?: LabelSelector;
  expose?: ExposeSpec;
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
