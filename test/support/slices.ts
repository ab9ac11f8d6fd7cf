import type { SliceLike } from "../../src/endpoints/slice-record";

export interface SliceEndpoint {
  ip: string;
  pod?: string;
  /** the pod's UID; default derived from its name */
  uid?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  node?: string;
  zone?: string;
}

export const podUid = (pod: string) =>
  `00000000-0000-4000-8000-${Buffer.from(pod).toString("hex").padStart(12, "0").slice(-12)}`;

/** A discovery.k8s.io/v1 EndpointSlice as the EndpointSlice controller writes it. */
export function makeSlice(
  namespace: string,
  service: string,
  name: string,
  endpoints: SliceEndpoint[],
  opts: {
    addressType?: string;
    ports?: { name?: string; port: number; protocol?: string }[];
    uid?: string;
    labels?: Record<string, string>;
  } = {},
): SliceLike & { apiVersion: string; kind: string } {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace,
      uid: opts.uid ?? `slice-${namespace}-${name}`,
      labels: {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        ...opts.labels,
      },
    },
    addressType: opts.addressType ?? "IPv4",
    endpoints: endpoints.map(e => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
      ...(e.pod ? { targetRef: { kind: "Pod", namespace, name: e.pod, uid: e.uid ?? podUid(e.pod) } } : {}),
      nodeName: e.node ?? "node-a",
      ...(e.zone ? { zone: e.zone } : {}),
    })),
    ports: opts.ports?.map(p => ({ protocol: "TCP", ...p })) ?? [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}
