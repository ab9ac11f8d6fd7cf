import { isOlder } from "../cache/resource-version";
import {
  toSliceRecord,
  type EndpointPort,
  type EndpointRecord,
  type SliceLike,
  type SliceRecord,
} from "./slice-record";

/** A Service, by namespace and name. */
export interface ServiceRef {
  namespace: string;
  name: string;
}

/** An endpoint as a Service's union of slices presents it: with its slice's address type and ports. */
export interface ServiceEndpoint extends EndpointRecord {
  addressType: string;
  ports: EndpointPort[];
  slice: string;
}

export type ServiceListener = (service: ServiceRef) => void;

/** A Service a pod backs, and whether it is a ready endpoint of it. */
export type PodService = ServiceRef & { ready: boolean };

/** service key → how many endpoints (over all slices) name the pod, and how many of them are ready; and that as a sorted list once asked for */
interface PodServices {
  counts: Map<string, { listed: number; ready: number }>;
  list?: readonly PodService[];
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/** Code-unit order: names and addresses are ASCII, and localeCompare is far slower on a lookup's path. */
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function fromKey(k: string): ServiceRef {
  const slash = k.indexOf("/");
  return { namespace: k.slice(0, slash), name: k.slice(slash + 1) };
}

/**
 * Every EndpointSlice once, by UID, joined to its Service by the kubernetes.io/service-name label,
 * and the reverse map from a pod's UID to the Services whose slices list it. O(1) per event in the
 * number of slices (O(endpoints of the slice) to re-link its pods).
 */
export class EndpointCache {
  readonly #slices = new Map<string, SliceRecord>();
  readonly #byService = new Map<string, Set<string>>();
  /** pod uid → service key → how many endpoints (over all slices) name the pod, and how many of them are ready */
  readonly #podServices = new Map<string, PodServices>();
  /** slices(), kept per Service key until one of its slices changes: a lookup's path reads it */
  readonly #sortedSlices = new Map<string, readonly SliceRecord[]>();
  readonly #listeners = new Set<ServiceListener>();
  #generation = 0;

  /**
   * Store the slice's new state (ADDED/MODIFIED). A state older than the one held (a replayed
   * event) is ignored; a slice that no longer names a Service (its kubernetes.io/service-name
   * label removed) leaves the Service it was under.
   */
  upsert(slice: SliceLike): void {
    const uid = slice.metadata?.uid;
    const prev = uid ? this.#slices.get(uid) : undefined;
    if (prev && isOlder(slice.metadata?.resourceVersion ?? "", prev.resourceVersion)) return;
    const next = toSliceRecord(slice);
    if (!next) {
      if (prev) this.#drop(prev);
      return;
    }
    if (prev) this.#unlink(prev);
    this.#slices.set(next.uid, next);
    this.#link(next);
    if (prev && (prev.namespace !== next.namespace || prev.service !== next.service)) this.#notify(prev);
    this.#notify(next);
  }

  /**
   * Remove the slice with this UID (DELETED), whatever resourceVersion the event carries: UIDs are
   * never reused and kube-apiserver's DELETED carries the newest version, so a deletion is final.
   */
  remove(slice: SliceLike): void {
    const uid = slice.metadata?.uid;
    const prev = uid ? this.#slices.get(uid) : undefined;
    if (prev) this.#drop(prev);
  }

  /** Called with each Service whose slices changed. */
  onChange(listener: ServiceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** the Service's slices, sorted by name */
  slices(namespace: string, name: string): readonly SliceRecord[] {
    const k = key(namespace, name);
    let sorted = this.#sortedSlices.get(k);
    if (sorted) return sorted;
    const uids = this.#byService.get(k);
    if (!uids) return [];
    sorted = Object.freeze([...uids].map(uid => this.#slices.get(uid)!).sort((a, b) => byText(a.name, b.name)));
    this.#sortedSlices.set(k, sorted);
    return sorted;
  }

  /** every Service that has at least one slice */
  services(): ServiceRef[] {
    return [...this.#byService.keys()].map(fromKey);
  }

  /** the Services whose slices list this pod (by its UID), sorted, and whether it is a ready endpoint of each */
  servicesOfPod(podUid: string): readonly PodService[] {
    const services = this.#podServices.get(podUid);
    if (!services) return [];
    services.list ??= Object.freeze(
      [...services.counts]
        .sort(([a], [b]) => byText(a, b))
        .map(([k, n]) => Object.freeze({ ...fromKey(k), ready: n.ready > 0 })),
    );
    return services.list;
  }

  get size(): number {
    return this.#slices.size;
  }

  /** counts the slice changes applied: the Services any pod backs are the same while it is */
  get generation(): number {
    return this.#generation;
  }

  #drop(s: SliceRecord): void {
    this.#unlink(s);
    this.#slices.delete(s.uid);
    this.#notify(s);
  }

  #link(s: SliceRecord): void {
    const k = key(s.namespace, s.service);
    const set = this.#byService.get(k);
    if (set) set.add(s.uid);
    else this.#byService.set(k, new Set([s.uid]));
    this.#sortedSlices.delete(k);
    for (const e of s.endpoints) {
      if (!e.pod) continue;
      let services = this.#podServices.get(e.pod.uid);
      if (!services) this.#podServices.set(e.pod.uid, (services = { counts: new Map() }));
      const n = services.counts.get(k) ?? { listed: 0, ready: 0 };
      services.counts.set(k, { listed: n.listed + 1, ready: n.ready + (e.ready ? 1 : 0) });
      services.list = undefined;
    }
  }

  #unlink(s: SliceRecord): void {
    const k = key(s.namespace, s.service);
    const set = this.#byService.get(k);
    if (set?.delete(s.uid) && set.size === 0) this.#byService.delete(k);
    this.#sortedSlices.delete(k);
    for (const e of s.endpoints) {
      const services = e.pod && this.#podServices.get(e.pod.uid);
      if (!services) continue;
      const n = services.counts.get(k) ?? { listed: 1, ready: 0 };
      if (n.listed > 1) services.counts.set(k, { listed: n.listed - 1, ready: n.ready - (e.ready ? 1 : 0) });
      else services.counts.delete(k);
      services.list = undefined;
      if (services.counts.size === 0) this.#podServices.delete(e.pod!.uid);
    }
  }

  /** every change of a slice ends here */
  #notify(s: SliceRecord): void {
    this.#generation++;
    for (const listener of this.#listeners) listener({ namespace: s.namespace, name: s.service });
  }
}

/**
 * A Service's endpoints: the union of its slices. An address listed by two slices of the same
 * address type (an endpoint moving between slices) is shown once, preferring the ready listing.
 * Sorted by address type, then first address.
 */
export function unionOfSlices(slices: readonly SliceRecord[]): ServiceEndpoint[] {
  const byAddress = new Map<string, ServiceEndpoint>();
  for (const s of slices) {
    for (const e of s.endpoints) {
      const k = `${s.addressType}|${e.addresses.join(",")}`;
      const seen = byAddress.get(k);
      if (seen && (seen.ready || !e.ready)) continue;
      // built field by field: an object spread is ten times slower here, and this is a lookup's path
      byAddress.set(k, {
        addresses: e.addresses,
        ready: e.ready,
        serving: e.serving,
        terminating: e.terminating,
        pod: e.pod,
        nodeName: e.nodeName,
        zone: e.zone,
        hostname: e.hostname,
        addressType: s.addressType,
        ports: s.ports,
        slice: s.name,
      });
    }
  }
  return [...byAddress.values()].sort(
    (a, b) => byText(a.addressType, b.addressType) || byText(a.addresses[0] ?? "", b.addresses[0] ?? ""),
  );
}
