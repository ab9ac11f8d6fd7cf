/**
 * The compact record the cache keeps for each pod: only what lookups need.
 * CONTRACT (implemented by the cache helper): keep these names and types.
 */
export interface OwnerRef {
  kind: string;
  name: string;
}

export interface PodRecord {
  uid: string;
  name: string;
  namespace: string;
  /** every label (selectors need them); exposure is filtered per PodIndex */
  labels: Readonly<Record<string, string>>;
  /** only the annotation keys the cache was told to keep (see PodCache's keepAnnotation) */
  annotations: Readonly<Record<string, string>>;
  owners: readonly OwnerRef[];
  serviceAccountName?: string;
  nodeName?: string;
  hostIP?: string;
  /** every entry of status.podIPs (or status.podIP), normalised with normalizeIp, order kept */
  podIPs: readonly string[];
  hostNetwork: boolean;
  /** status.phase, "Unknown" when absent */
  phase: string;
  /** the Ready condition is True */
  ready: boolean;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  resourceVersion: string;
}

/** The parts of a v1 Pod that toPodRecord reads (a full V1Pod fits). */
export interface PodLike {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string }[];
    creationTimestamp?: string | Date;
    deletionTimestamp?: string | Date;
    resourceVersion?: string;
  };
  spec?: { serviceAccountName?: string; nodeName?: string; hostNetwork?: boolean };
  status?: {
    phase?: string;
    hostIP?: string;
    podIP?: string;
    podIPs?: { ip?: string }[];
    conditions?: { type?: string; status?: string }[];
  };
}
