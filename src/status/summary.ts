import { ownsIps, type PodCache } from "../cache/pod-cache";
import type { PodRecord } from "../cache/pod-record";
import { unionOfSlices, type EndpointCache, type ServiceRef } from "../endpoints/endpoint-cache";
import { isDnsLabel } from "../names";
import type { PodIndexView } from "../views/view";
import type { ViewSet } from "../views/view-set";

/** What a PodIndex's status and /v1/indexes report about the pods it serves. */
export interface IndexSummary {
  pods: number;
  /** distinct IPs owned by served pods */
  ips: number;
  /** of those, IPs claimed by more than one live pod (lookups answer 409 for them) */
  conflicts: number;
  /** namespaces holding served pods */
  namespaces: number;
  /** with spec.services: followed Services, their endpoints, and how many of those are ready */
  services?: number;
  endpoints?: number;
  readyEndpoints?: number;
}

export interface SummaryDeps {
  cache: PodCache;
  endpoints: EndpointCache;
  views: ViewSet;
  /** whether every initial list is in: before, a Service's endpoints are not answered, so count none */
  ready: () => boolean;
}

/** One view's counts, kept current by every cache change. */
interface Counts {
  view: PodIndexView;
  pods: number;
  /** IP → how many served pods own it */
  ips: Map<string, number>;
  /** how many of `ips` are in IndexSummaries' conflicted set */
  conflicts: number;
  /** namespace → served pods in it */
  namespaces: Map<string, number>;
  /** with spec.services: each followed Service (by namespace/name) and its endpoints as this view sees them */
  services?: Map<string, { endpoints: number; ready: number }>;
  endpoints: number;
  readyEndpoints: number;
}

/** Add one to a count; the new count. */
function up(map: Map<string, number>, key: string): number {
  const n = (map.get(key) ?? 0) + 1;
  map.set(key, n);
  return n;
}

/** Take one from a count (forgetting it at 0); the new count. */
function down(map: Map<string, number>, key: string): number {
  const n = (map.get(key) ?? 1) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
  return n;
}

/**
 * Each served PodIndex's counts, kept from the caches' changes so that reading them (a status
 * flush, a /metrics scrape, /v1/indexes) costs O(PodIndexes) and never walks the cache. A pod
 * event costs O(PodIndexes × its IPs), an EndpointSlice event one union of its Service's slices
 * per PodIndex with spec.services. A PodIndex applied (a new view) is counted once from the caches
 * when it is applied (ViewSet.onChange), O(pods + Services): at start, before the pods are listed,
 * that is nothing, and the list's pods are counted as they arrive. (Counted at the first read
 * instead, the first status flush after the list walked every pod: 105 ms of a CPU profile at 10k
 * pods, as lookups begin.)
 */
export class IndexSummaries {
  readonly #counts = new Map<string, Counts>();
  /**
   * IPs seen claimed by more than one live pod (PodCache.lookupIp's conflict). Correct for every IP
   * some view counts: each is re-checked when a pod listing it changes or a view starts counting it.
   */
  readonly #conflicted = new Set<string>();

  constructor(private readonly deps: SummaryDeps) {
    deps.cache.onChange((prev, next) => this.#podChanged(prev, next));
    deps.endpoints.onChange(service => {
      for (const c of this.#counts.values()) this.#countService(c, service);
    });
    deps.views.onChange(() => this.#sync(deps.views.list()));
    this.#sync(deps.views.list());
  }

  /** Every served PodIndex's summary, by name in name order. */
  summaries(): Map<string, IndexSummary> {
    const views = this.deps.views.list();
    const ready = this.deps.ready();
    const out = new Map<string, IndexSummary>();
    for (const view of views) {
      const c = this.#counts.get(view.name)!;
      const summary: IndexSummary = {
        pods: c.pods,
        ips: c.ips.size,
        conflicts: c.conflicts,
        namespaces: c.namespaces.size,
      };
      if (c.services) {
        summary.services = c.services.size;
        summary.endpoints = ready ? c.endpoints : 0;
        summary.readyEndpoints = ready ? c.readyEndpoints : 0;
      }
      out.set(view.name, summary);
    }
    return out;
  }

  /** Forget the views that are gone, and count the ones that are new (or rebuilt: another generation). */
  #sync(views: readonly PodIndexView[]): void {
    const names = new Set(views.map(v => v.name));
    for (const name of this.#counts.keys()) if (!names.has(name)) this.#counts.delete(name);
    for (const view of views) if (this.#counts.get(view.name)?.view !== view) this.#recount(view);
  }

  #recount(view: PodIndexView): void {
    const c: Counts = {
      view,
      pods: 0,
      ips: new Map(),
      conflicts: 0,
      namespaces: new Map(),
      services: view.followsServices ? new Map() : undefined,
      endpoints: 0,
      readyEndpoints: 0,
    };
    this.#counts.set(view.name, c);
    for (const rec of this.deps.cache.values()) if (view.selects(rec)) this.#addPod(c, rec);
    for (const ip of c.ips.keys()) this.#recheck(ip);
    if (c.services) for (const service of this.deps.endpoints.services()) this.#countService(c, service);
  }

  #podChanged(prev: PodRecord | undefined, next: PodRecord | undefined): void {
    for (const c of this.#counts.values()) {
      if (prev && c.view.selects(prev)) this.#removePod(c, prev);
      if (next && c.view.selects(next)) this.#addPod(c, next);
    }
    for (const ip of prev?.podIPs ?? []) this.#recheck(ip);
    for (const ip of next?.podIPs ?? []) this.#recheck(ip);
  }

  #addPod(c: Counts, rec: PodRecord): void {
    c.pods++;
    up(c.namespaces, rec.namespace);
    if (!ownsIps(rec)) return;
    for (const ip of rec.podIPs) if (up(c.ips, ip) === 1 && this.#conflicted.has(ip)) c.conflicts++;
  }

  #removePod(c: Counts, rec: PodRecord): void {
    c.pods--;
    down(c.namespaces, rec.namespace);
    if (!ownsIps(rec)) return;
    for (const ip of rec.podIPs) if (down(c.ips, ip) === 0 && this.#conflicted.has(ip)) c.conflicts--;
  }

  /** Whether `ip` is in conflict now; every view counting it follows a change. */
  #recheck(ip: string): void {
    const conflict = this.deps.cache.lookupIp(ip).result === "conflict";
    if (conflict === this.#conflicted.has(ip)) return;
    if (conflict) this.#conflicted.add(ip);
    else this.#conflicted.delete(ip);
    for (const c of this.#counts.values()) if (c.ips.has(ip)) c.conflicts += conflict ? 1 : -1;
  }

  /** A Service's endpoints as the view sees them: the union of the slices it follows. */
  #countService(c: Counts, service: ServiceRef): void {
    if (!c.services) return;
    const key = `${service.namespace}/${service.name}`;
    const old = c.services.get(key);
    if (old) {
      c.endpoints -= old.endpoints;
      c.readyEndpoints -= old.ready;
      c.services.delete(key);
    }
    const followed = this.deps.endpoints.slices(service.namespace, service.name).filter(s => c.view.follows(s));
    if (followed.length === 0) return;
    // a name that is no DNS label has no endpoints to ask for (GET /v1/services/… answers 400): none counted
    const union = isDnsLabel(service.namespace) && isDnsLabel(service.name) ? unionOfSlices(followed) : [];
    const counted = { endpoints: union.length, ready: union.filter(e => e.ready).length };
    c.services.set(key, counted);
    c.endpoints += counted.endpoints;
    c.readyEndpoints += counted.ready;
  }
}
