import { normalizeIp } from "./ip";

/**
 * The compact record the cache keeps for each pod: only what lookups need. Frozen: a change to a
 * pod is a new record, so whatever is derived from a record (answers cached per record) stays true of it.
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

const iso = (t: string | Date | undefined): string | undefined => (t instanceof Date ? t.toISOString() : t);

/**
 * The compact record of a pod, or undefined when it lacks a uid, name or namespace.
 * Pod IPs come from status.podIPs (status.podIP when absent), normalised, invalid ones dropped.
 */
export function toPodRecord(pod: PodLike, keepAnnotation: (key: string) => boolean): PodRecord | undefined {
  const meta = pod.metadata;
  if (!meta?.uid || !meta.name || !meta.namespace) return undefined;
  const status = pod.status ?? {};
  const rawIps = status.podIPs?.length ? status.podIPs.map(p => p.ip) : [status.podIP];
  const podIPs = [...new Set(rawIps.flatMap(ip => (ip ? (normalizeIp(ip) ?? []) : [])))];
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta.annotations ?? {})) if (keepAnnotation(key)) annotations[key] = value;
  return Object.freeze({
    uid: meta.uid.toLowerCase(),
    name: meta.name,
    namespace: meta.namespace,
    // copied: the pod object handed in stays the caller's to change
    labels: Object.freeze({ ...meta.labels }),
    annotations: Object.freeze(annotations),
    owners: Object.freeze(
      (meta.ownerReferences ?? []).map(o => Object.freeze({ kind: o.kind ?? "", name: o.name ?? "" })),
    ),
    serviceAccountName: pod.spec?.serviceAccountName,
    nodeName: pod.spec?.nodeName || undefined,
    hostIP: status.hostIP ? (normalizeIp(status.hostIP) ?? status.hostIP) : undefined,
    podIPs: Object.freeze(podIPs),
    hostNetwork: pod.spec?.hostNetwork === true,
    phase: status.phase ?? "Unknown",
    ready: status.conditions?.some(c => c.type === "Ready" && c.status === "True") ?? false,
    creationTimestamp: iso(meta.creationTimestamp),
    deletionTimestamp: iso(meta.deletionTimestamp),
    resourceVersion: meta.resourceVersion ?? "",
  });
}
