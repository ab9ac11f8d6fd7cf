import { isDnsLabel } from "../names";
import type { Readiness } from "../readiness";
import type { PodIndexView } from "../views/view";
import type { ViewSet } from "../views/view-set";
import {
  unionOfSlices,
  type EndpointCache,
  type PodService,
  type ServiceEndpoint,
  type ServiceRef,
} from "./endpoint-cache";

export type EndpointsResult =
  | { kind: "hit"; service: ServiceRef; endpoints: ServiceEndpoint[]; indexes: string[] }
  | { kind: "miss" }
  | { kind: "not-ready"; waitingFor: string[] }
  | { kind: "bad-request"; message: string }
  | { kind: "index-not-found"; index: string; /** it exists but is not served: why */ refused?: string };

/** A Service as the PodIndexes that follow it (spec.services) see it. Pure reads. */
export class ServiceLookup {
  constructor(
    private readonly cache: EndpointCache,
    private readonly views: ViewSet,
    private readonly readiness: Readiness,
  ) {}

  /** The union of the Service's slices that some PodIndex in scope follows; a miss when none does. */
  endpoints(namespace: string | undefined, name: string | undefined, index?: string): EndpointsResult {
    if (!isDnsLabel(namespace))
      return { kind: "bad-request", message: `${JSON.stringify(namespace ?? "")} is not a namespace name` };
    if (!isDnsLabel(name))
      return { kind: "bad-request", message: `${JSON.stringify(name ?? "")} is not a Service name` };
    if (!this.readiness.ready) return { kind: "not-ready", waitingFor: this.readiness.waitingFor };
    let scope: readonly PodIndexView[] = this.views.list();
    if (index) {
      const view = this.views.get(index);
      if (!view) return { kind: "index-not-found", index, refused: this.views.refusal(index) };
      scope = [view];
    }
    const slices = this.cache.slices(namespace, name);
    const indexes = scope.filter(v => slices.some(s => v.follows(s))).map(v => v.name);
    if (indexes.length === 0) return { kind: "miss" };
    const followed = slices.filter(s => scope.some(v => v.follows(s)));
    return { kind: "hit", service: { namespace, name }, endpoints: unionOfSlices(followed), indexes };
  }

  /** what servicesOf() answers is the same while this is (and the views are) */
  get generation(): number {
    return this.cache.generation;
  }

  /** The Services (followed by one of these views) whose slices list the pod, and whether it is ready in each. */
  servicesOf(podUid: string, views: readonly PodIndexView[]): readonly PodService[] {
    const all = this.cache.servicesOfPod(podUid);
    const followed = (svc: ServiceRef) =>
      this.cache.slices(svc.namespace, svc.name).some(s => views.some(v => v.follows(s)));
    // on a lookup's path: the kept list itself when every one is followed (the usual case), no copy
    return all.every(followed) ? all : all.filter(followed);
  }

  /** A followed Service's ready endpoints that are pods, as the PostgreSQL mirror stores them. */
  readyPods(view: PodIndexView, service: ServiceRef) {
    const slices = this.cache.slices(service.namespace, service.name).filter(s => view.follows(s));
    return unionOfSlices(slices).filter(
      (e): e is ServiceEndpoint & { pod: NonNullable<ServiceEndpoint["pod"]> } =>
        e.ready && e.pod !== undefined && e.addressType !== "FQDN" && e.addresses.length > 0,
    );
  }

  /** The Services a view follows (with at least one followed slice). */
  followed(view: PodIndexView): ServiceRef[] {
    return this.cache.services().filter(svc => this.cache.slices(svc.namespace, svc.name).some(s => view.follows(s)));
  }
}
