import { normalizeIp } from "../cache/ip";

/** The label that joins an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export interface EndpointPort {
  name: string | null;
  port: number | null;
  protocol: string;
  appProtocol: string | null;
}

/** One endpoint of a slice, compact. Conditions are resolved as the API defines their absence. */
export interface EndpointRecord {
  /** normalised (IPv4/IPv6); FQDN slices keep their names */
  addresses: string[];
  /** absent means true (EndpointConditions: "nil should be interpreted as true") */
  ready: boolean;
  /** absent means the same as ready */
  serving: boolean;
  /** absent means false */
  terminating: boolean;
  pod?: { name: string; namespace: string; uid: string };
  nodeName?: string;
  zone?: string;
  hostname?: string;
}

export interface SliceRecord {
  uid: string;
  name: string;
  namespace: string;
  /** from the kubernetes.io/service-name label */
  service: string;
  addressType: string;
  labels: Readonly<Record<string, string>>;
  endpoints: EndpointRecord[];
  ports: EndpointPort[];
  resourceVersion: string;
}

/** The parts of a discovery.k8s.io/v1 EndpointSlice that toSliceRecord reads. */
export interface SliceLike {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
  };
  addressType?: string;
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    targetRef?: { kind?: string; name?: string; namespace?: string; uid?: string };
    nodeName?: string;
    zone?: string;
    hostname?: string;
  }[];
  ports?: { name?: string; port?: number; protocol?: string; appProtocol?: string }[];
}

/** The compact record of a slice, or undefined when it has no uid/name/namespace or no Service label. */
export function toSliceRecord(slice: SliceLike): SliceRecord | undefined {
  const meta = slice.metadata;
  const labels = meta?.labels;
  // an own property only: a label map is data, its prototype's keys are no labels
  const service = labels && Object.hasOwn(labels, SERVICE_NAME_LABEL) ? labels[SERVICE_NAME_LABEL] : undefined;
  if (!meta?.uid || !meta.name || !meta.namespace || typeof service !== "string" || !service) return undefined;
  const addressType = slice.addressType ?? "IPv4";
  return {
    uid: meta.uid,
    name: meta.name,
    namespace: meta.namespace,
    service,
    addressType,
    labels: meta.labels ?? {},
    resourceVersion: meta.resourceVersion ?? "",
    ports: (slice.ports ?? []).map(p => ({
      name: p.name ?? null,
      port: p.port ?? null,
      protocol: p.protocol ?? "TCP",
      appProtocol: p.appProtocol ?? null,
    })),
    endpoints: (slice.endpoints ?? []).map(e => {
      const ready = e.conditions?.ready ?? true;
      const ref = e.targetRef;
      return {
        addresses: (e.addresses ?? []).map(a => (addressType === "FQDN" ? a : (normalizeIp(a) ?? a))),
        ready,
        serving: e.conditions?.serving ?? ready,
        terminating: e.conditions?.terminating ?? false,
        pod:
          ref?.kind === "Pod" && ref.name && ref.uid
            ? { name: ref.name, namespace: ref.namespace ?? meta.namespace!, uid: ref.uid.toLowerCase() }
            : undefined,
        nodeName: e.nodeName || undefined,
        zone: e.zone || undefined,
        hostname: e.hostname || undefined,
      };
    }),
  };
}
