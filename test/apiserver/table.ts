import type { KObject, ResourceType } from "./resources";

const NAME_COLUMN = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  priority: 0,
};

/** `5s`, `3m`, `2h`, `4d` as kubectl and the apiserver print ages. */
export function age(timestamp: string | undefined, now = Date.now()): string | null {
  if (!timestamp) return null;
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
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

function podCells(pod: KObject): unknown[] {
  const statuses: KObject[] = pod.status?.containerStatuses ?? [];
  const containers = pod.spec?.containers?.length ?? 0;
  const ready = statuses.filter(s => s.ready).length;
  const restarts = statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0);
  const status = pod.metadata?.deletionTimestamp ? "Terminating" : (pod.status?.phase ?? "Pending");
  return [`${ready}/${containers}`, status, String(restarts), age(pod.metadata?.creationTimestamp)];
}

/** A meta.k8s.io/v1 Table of objects, as `kubectl get` asks for it. */
export function toTable(t: ResourceType, items: KObject[], resourceVersion: string, includeObject: boolean): KObject {
  let columns: KObject[];
  let cells: (o: KObject) => unknown[];
  if (t.kind === "Pod") {
    columns = [
      NAME_COLUMN,
      {
        name: "Ready",
        type: "string",
        format: "",
        description: "The aggregate readiness state of this pod for accepting traffic.",
        priority: 0,
      },
      {
        name: "Status",
        type: "string",
        format: "",
        description: "The aggregate status of the containers in this pod.",
        priority: 0,
      },
      {
        name: "Restarts",
        type: "string",
        format: "",
        description: "The number of times the containers in this pod have been restarted.",
        priority: 0,
      },
      { name: "Age", type: "string", format: "", description: "CreationTimestamp", priority: 0 },
    ];
    cells = podCells;
  } else if (t.printerColumns.length > 0) {
    columns = [
      NAME_COLUMN,
      ...t.printerColumns.map(c => ({
        name: c.name,
        type: c.type,
        format: c.format ?? "",
        description: c.description ?? `Custom resource definition column (in JSONPath format): ${c.jsonPath}`,
        priority: c.priority ?? 0,
      })),
    ];
    cells = o =>
      t.printerColumns.map(c => {
        const value = jsonPath(o, c.jsonPath);
        return c.type === "date" ? age(typeof value === "string" ? value : undefined) : value;
      });
  } else {
    columns = [NAME_COLUMN, { name: "Age", type: "string", format: "", description: "CreationTimestamp", priority: 0 }];
    cells = o => [age(o.metadata?.creationTimestamp)];
  }
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns,
    rows: items.map(o => ({
      cells: [o.metadata.name, ...cells(o)],
      object: includeObject ? o : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
