import type { PodLike } from "../../src/cache/pod-record";

let counter = 0;

/** A v1 Pod as the apiserver would send it, with only the fields podindex reads. */
export function makePod(
  over: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ips?: string[];
    phase?: string;
    hostNetwork?: boolean;
    ready?: boolean;
    nodeName?: string;
    hostIP?: string;
    serviceAccountName?: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
  } = {},
): PodLike {
  counter++;
  const uid = over.uid ?? `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`;
  const ips = over.ips ?? [];
  return {
    metadata: {
      uid,
      name: over.name ?? `pod-${counter}`,
      namespace: over.namespace ?? "apps",
      labels: over.labels ?? { app: "web" },
      annotations: over.annotations,
      ownerReferences: [{ kind: "ReplicaSet", name: "web-5d4c" }],
      creationTimestamp: "2026-11-25T01:00:00Z",
      deletionTimestamp: over.deletionTimestamp,
      resourceVersion: over.resourceVersion ?? String(counter),
    },
    spec: {
      serviceAccountName: over.serviceAccountName ?? "web",
      nodeName: over.nodeName ?? "node-a",
      hostNetwork: over.hostNetwork,
    },
    status: {
      phase: over.phase ?? "Running",
      hostIP: over.hostIP ?? "10.0.0.11",
      podIP: ips[0],
      podIPs: ips.map(ip => ({ ip })),
      conditions: [{ type: "Ready", status: over.ready === false ? "False" : "True" }],
    },
  };
}
