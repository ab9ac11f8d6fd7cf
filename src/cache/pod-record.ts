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

/**
 * Arrays of a v1 Pod that toPodRecord never reads, the bulk of a pod's JSON (about 13 of a realistic
 * pod's 16 KB): the paged feed cuts them from the JSON before parsing (src/feed/array-cut.ts).
 */
export const UNREAD_POD_ARRAYS = [
  "managedFields",
  "containers",
  "initContainers",
  "ephemeralContainers",
  "volumes",
  "containerStatuses",
  "initContainerStatuses",
  "ephemeralContainerStatuses",
] as const;

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

/** how many distinct values `intern` remembers before it starts over */
const INTERNED = 50_000;
let interned = new Map<string, string>();

/**
 * One shared copy of a value that many pods repeat (namespace, node, phase, owner, label values):
 * every parsed pod brings its own copy, and a record would keep it. Bounded: past INTERNED values
 * the table starts over (records keep what they hold; only sharing with older ones is lost).
 */
function intern<T extends string | undefined>(value: T): T {
  if (value === undefined) return value;
  const held = interned.get(value);
  if (held !== undefined) return held as T;
  if (interned.size >= INTERNED) interned = new Map();
  interned.set(value, value);
  return value;
}

function internedValues(from: Readonly<Record<string, string>> | undefined, keep: (key: string) => boolean) {
  const out: Record<string, string> = {};
  for (const key in from) {
    if (!Object.hasOwn(from, key) || !keep(key)) continue;
    // an own "__proto__" (JSON.parse makes one) stays a key: assigning it would set the prototype
    if (key === "__proto__") Object.defineProperty(out, key, { value: from[key], enumerable: true });
    else out[key] = intern(from[key]);
  }
  return Object.freeze(out);
}

const everyKey = () => true;

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
  return Object.freeze({
    uid: meta.uid.toLowerCase(),
    name: meta.name,
    namespace: intern(meta.namespace),
    // copied: the pod object handed in stays the caller's to change
    labels: internedValues(meta.labels, everyKey),
    annotations: internedValues(meta.annotations, keepAnnotation),
    owners: Object.freeze(
      (meta.ownerReferences ?? []).map(o => Object.freeze({ kind: intern(o.kind ?? ""), name: intern(o.name ?? "") })),
    ),
    serviceAccountName: intern(pod.spec?.serviceAccountName),
    nodeName: intern(pod.spec?.nodeName || undefined),
    hostIP: intern(status.hostIP ? (normalizeIp(status.hostIP) ?? status.hostIP) : undefined),
    podIPs: Object.freeze(podIPs),
    hostNetwork: pod.spec?.hostNetwork === true,
    phase: intern(status.phase ?? "Unknown"),
    ready: status.conditions?.some(c => c.type === "Ready" && c.status === "True") ?? false,
    creationTimestamp: iso(meta.creationTimestamp),
    deletionTimestamp: iso(meta.deletionTimestamp),
    resourceVersion: meta.resourceVersion ?? "",
  });
}
