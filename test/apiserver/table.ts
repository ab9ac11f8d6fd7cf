import type { KObject, ResourceType } from "./resources";

/** The column descriptions kube-apiserver v1.32 sends (transcript 11, step 7f). */
const NAME_COLUMN = {
  name: "Name",
  type: "string",
  format: "name",
  description:
    "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
  priority: 0,
};

const AGE_COLUMN = {
  name: "Age",
  type: "string",
  format: "",
  description:
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
  priority: 0,
};

const column = (name: string, description: string, priority = 0) => ({
  name,
  type: "string",
  format: "",
  description,
  priority,
});

const POD_COLUMNS = [
  NAME_COLUMN,
  column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
  column("Status", "The aggregate status of the containers in this pod."),
  column(
    "Restarts",
    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
  ),
  AGE_COLUMN,
  column(
    "IP",
    "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    1,
  ),
  column(
    "Node",
    "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
    1,
  ),
  column(
    "Nominated Node",
    "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
    1,
  ),
  column(
    "Readiness Gates",
    'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates',
    1,
  ),
];

/** apimachinery's duration.HumanDuration: `45s`, `3m20s`, `15m`, `5h10m`, `20h`, `3d4h`, `40d`, `2y10d`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const withPart = (big: number, unit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${unit}` : `${big}${unit}${small}${smallUnit}`;
  if (minutes < 10) return withPart(minutes, "m", seconds % 60, "s");
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return withPart(hours, "h", minutes % 60, "m");
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return withPart(days, "d", hours % 24, "h");
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (hours < 24 * 365 * 8) return withPart(Math.floor(days / 365), "y", days % 365, "d");
  return `${Math.floor(days / 365)}y`;
}

/** The time since a timestamp, as kube-apiserver prints ages; null without one. */
export function age(timestamp: string | undefined, now = Date.now()): string | null {
  if (!timestamp) return null;
  return humanDuration(now - Date.parse(timestamp));
}

/** The JSONPath forms printer columns use: `.a.b`, `.a[0].b` and `.a[?(@.k=="v")].b`. */
export function jsonPath(obj: unknown, path: string): unknown {
  let current: unknown = obj;
  const steps = path.match(/\.[^.[\]]+|\[\?\(@\.[^=]+==["'][^"']*["']\)\]|\[\d+\]/g) ?? [];
  for (const step of steps) {
    if (current === undefined || current === null) return null;
    const filter = /^\[\?\(@\.([^=]+)==["']([^"']*)["']\)\]$/.exec(step);
    if (filter) current = Array.isArray(current) ? current.find(item => item?.[filter[1]] === filter[2]) : undefined;
    else if (step.startsWith("[")) current = Array.isArray(current) ? current[Number(step.slice(1, -1))] : undefined;
    else current = (current as Record<string, unknown>)[step.slice(1)];
  }
  return current ?? null;
}

/** kube-apiserver's pod printer (pkg/printers/internalversion printPod), for the cells it fills here. */
export function podCells(pod: KObject, now = Date.now()): string[] {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  const statuses: KObject[] = status.containerStatuses ?? [];
  let reason: string = status.reason || status.phase || "";
  let restarts = 0;
  let ready = 0;
  let running = false;
  let lastRestart = 0;
  for (const c of [...statuses].reverse()) {
    restarts += c.restartCount ?? 0;
    const finished = Date.parse(c.lastState?.terminated?.finishedAt ?? "");
    if (finished > lastRestart) lastRestart = finished;
    const state = c.state ?? {};
    if (state.waiting?.reason) reason = state.waiting.reason;
    else if (state.terminated?.reason) reason = state.terminated.reason;
    else if (state.terminated)
      reason = state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode}`;
    else if (c.ready && state.running) {
      running = true;
      ready++;
    }
  }
  const conditions: KObject[] = status.conditions ?? [];
  if (reason === "Completed" && running)
    reason = conditions.some(c => c.type === "Ready" && c.status === "True") ? "Running" : "NotReady";
  if (pod.metadata?.deletionTimestamp) reason = status.reason === "NodeLost" ? "Unknown" : "Terminating";
  const gates: KObject[] = spec.readinessGates ?? [];
  const gatesTrue = gates.filter(g => conditions.some(c => c.type === g.conditionType && c.status === "True")).length;
  return [
    `${ready}/${spec.containers?.length ?? 0}`,
    reason,
    lastRestart ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts),
    age(pod.metadata?.creationTimestamp, now) ?? "<unknown>",
    status.podIPs?.[0]?.ip || status.podIP || "<none>",
    spec.nodeName || "<none>",
    status.nominatedNodeName || "<none>",
    gates.length ? `${gatesTrue}/${gates.length}` : "<none>",
  ];
}

/** `includeObject`: what each row carries (upstream's default is the object's metadata). */
export type IncludeObject = "None" | "Metadata" | "Object";

export const includeObjectOf = (query: URLSearchParams): IncludeObject => {
  const v = query.get("includeObject");
  return v === "None" || v === "Object" ? v : "Metadata";
};

/** The columns of a kind's Table: the pod printer's, a CRD's printer columns, or Name and Age. */
function columnsOf(t: ResourceType): { columns: KObject[]; cells: (o: KObject) => unknown[] } {
  if (t.kind === "Pod") return { columns: POD_COLUMNS, cells: o => podCells(o) };
  if (t.printerColumns.length > 0) {
    return {
      columns: [
        NAME_COLUMN,
        ...t.printerColumns.map(c => ({
          name: c.name,
          type: c.type,
          format: c.format ?? "",
          description: c.description ?? `Custom resource definition column (in JSONPath format): ${c.jsonPath}`,
          priority: c.priority ?? 0,
        })),
      ],
      cells: o =>
        t.printerColumns.map(c => {
          const value = jsonPath(o, c.jsonPath);
          return c.type === "date" ? age(typeof value === "string" ? value : undefined) : value;
        }),
    };
  }
  return { columns: [NAME_COLUMN, AGE_COLUMN], cells: o => [age(o.metadata?.creationTimestamp)] };
}

/**
 * A meta.k8s.io/v1 Table of objects, as `kubectl get` asks for it. `columns: false` leaves out
 * the column definitions (`null`), as upstream does in a watch's DELETED events.
 */
export function toTable(
  t: ResourceType,
  items: readonly KObject[],
  resourceVersion: string,
  include: IncludeObject,
  columns = true,
): KObject {
  const { columns: definitions, cells } = columnsOf(t);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns ? definitions : null,
    rows: items.map(o => ({
      cells: [o.metadata.name, ...cells(o)],
      object:
        include === "Object"
          ? o
          : include === "None"
            ? null
            : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
