import type { ExposedPod, LookupResult } from "../lookup";

/** podindex's own JSON shape of a pod (the /v1 routes). */
export function podView(p: ExposedPod) {
  const r = p.record;
  return {
    uid: r.uid,
    name: r.name,
    namespace: r.namespace,
    labels: p.labels,
    annotations: p.annotations,
    owners: r.owners,
    serviceAccountName: r.serviceAccountName ?? null,
    nodeName: r.nodeName ?? null,
    hostIP: r.hostIP ?? null,
    podIPs: r.podIPs,
    hostNetwork: r.hostNetwork,
    phase: r.phase,
    ready: r.ready,
    creationTimestamp: r.creationTimestamp ?? null,
    deletionTimestamp: r.deletionTimestamp ?? null,
    indexes: p.indexes,
    services: p.services,
  };
}

/** The shape pod-watcher's GET /pod?ip= answers with (snake_case, one pod_ip). */
export function podWatcherView(p: ExposedPod, ip: string) {
  const r = p.record;
  return {
    name: r.name,
    namespace: r.namespace,
    uid: r.uid,
    labels: p.labels,
    annotations: p.annotations,
    node_name: r.nodeName ?? null,
    phase: r.phase,
    pod_ip: ip,
    host_ip: r.hostIP ?? null,
    start_time: r.creationTimestamp ?? null,
    conditions: [{ type: "Ready", status: r.ready ? "True" : "False", reason: null, message: null }],
    containers: [],
  };
}

/** The shape pod-index's GET /api/v1/pod?uid= answers with (camelCase, one podIP). */
export function podIndexView(p: ExposedPod) {
  const r = p.record;
  return {
    uid: r.uid,
    name: r.name,
    namespace: r.namespace,
    nodeName: r.nodeName ?? "",
    phase: r.phase,
    podIP: r.podIPs[0] ?? "",
    labels: p.labels,
    annotations: p.annotations,
    createdAt: r.creationTimestamp ?? null,
  };
}

type Failure = Exclude<LookupResult, { kind: "hit" }>;

/** HTTP status and podindex JSON body for a lookup that did not find exactly one pod. */
export function failure(result: Failure, subject: string): { status: number; body: Record<string, unknown> } {
  switch (result.kind) {
    case "bad-request":
      return { status: 400, body: { error: "BadRequest", message: result.message } };
    case "not-ready":
      return {
        status: 503,
        body: {
          error: "NotReady",
          message: `waiting for the initial list of ${result.waitingFor.join(", ")}`,
          waitingFor: result.waitingFor,
        },
      };
    case "stale":
      return { status: 503, body: { error: "Stale", message: result.message, stale: result.stale } };
    case "index-not-found":
      if (result.refused !== undefined) {
        return {
          status: 404,
          body: {
            error: "IndexNotServed",
            message: `PodIndex "${result.index}" exists but is not served: ${result.refused}`,
            index: result.index,
          },
        };
      }
      return {
        status: 404,
        body: { error: "IndexNotFound", message: `no PodIndex named "${result.index}"`, index: result.index },
      };
    case "miss":
      return {
        status: 404,
        body: { error: "NotFound", message: missMessage(result.reason, subject), reason: result.reason },
      };
    case "conflict":
      return {
        status: 409,
        body: {
          error: "Conflict",
          message: `${subject} is claimed by ${result.pods.length + result.hidden} live pods; refusing to guess`,
          pods: result.pods.map(podView),
          hidden: result.hidden,
        },
      };
  }
}

function missMessage(reason: string, subject: string): string {
  switch (reason) {
    case "terminal":
      return `${subject} belongs only to pods that have finished (Succeeded or Failed), which no longer own it`;
    case "hostNetwork":
      return `${subject} belongs to hostNetwork pods, whose address is their node's and identifies no pod`;
    default:
      return `no indexed pod has ${subject}`;
  }
}
