import { ownsIps, type PodCache } from "../cache/pod-cache";
import type { ServiceLookup } from "../endpoints/service-lookup";
import type { PodIndexView } from "../views/view";

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

/** One pass over the cache for every view (read when a status is due, never per event). */
export function summarize(
  cache: PodCache,
  views: readonly PodIndexView[],
  services?: ServiceLookup,
): Map<string, IndexSummary> {
  const acc = new Map(views.map(v => [v.name, { pods: 0, ips: new Set<string>(), namespaces: new Set<string>() }]));
  for (const rec of cache.values()) {
    for (const view of views) {
      if (!view.selects(rec)) continue;
      const a = acc.get(view.name)!;
      a.pods++;
      a.namespaces.add(rec.namespace);
      if (ownsIps(rec)) rec.podIPs.forEach(ip => a.ips.add(ip));
    }
  }
  const out = new Map<string, IndexSummary>();
  for (const [name, a] of acc) {
    let conflicts = 0;
    for (const ip of a.ips) if (cache.lookupIp(ip).result === "conflict") conflicts++;
    out.set(name, { pods: a.pods, ips: a.ips.size, conflicts, namespaces: a.namespaces.size });
  }
  for (const view of views) {
    if (!services || !view.followsServices) continue;
    let endpoints = 0;
    let readyEndpoints = 0;
    const followed = services.followed(view);
    for (const svc of followed) {
      const result = services.endpoints(svc.namespace, svc.name, view.name);
      if (result.kind !== "hit") continue;
      endpoints += result.endpoints.length;
      readyEndpoints += result.endpoints.filter(e => e.ready).length;
    }
    Object.assign(out.get(view.name)!, { services: followed.length, endpoints, readyEndpoints });
  }
  return out;
}
