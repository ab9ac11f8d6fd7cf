import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { PodCache } from "../../src/cache/pod-cache";
import { EndpointCache } from "../../src/endpoints/endpoint-cache";
import { ServiceLookup } from "../../src/endpoints/service-lookup";
import { ForwardAuth } from "../../src/forward-auth/authorize";
import { TrustedProxies } from "../../src/forward-auth/client-ip";
import { buildServer, type ServerDeps } from "../../src/http/server";
import { PodIndex, type PodIndexSpec } from "../../src/kinds/podindex";
import { PodLookup } from "../../src/lookup";
import { Metrics } from "../../src/metrics";
import { Readiness } from "../../src/readiness";
import { PodIndexView } from "../../src/views/view";
import { ViewSet } from "../../src/views/view-set";

/** A PodIndex object as the apiserver would hand it over (uid derived from the name, generation 1). */
export function podIndex(name: string, spec: PodIndexSpec): PodIndex {
  return Object.assign(new PodIndex(), { metadata: { name, uid: `uid-${name}`, generation: 1 }, spec });
}

export interface TestServer {
  app: FastifyInstance;
  views: ViewSet;
  cache: PodCache;
  endpoints: EndpointCache;
  readiness: Readiness;
  lookup: PodLookup;
  services: ServiceLookup;
  forwardAuth: ForwardAuth;
  /** mark every kind listed (the initial lists are in) */
  sync: () => void;
}

/**
 * The lookup server over in-memory parts, for route tests with Fastify's inject(): one view per
 * PodIndex spec given, an empty pod cache and EndpointSlice cache, nothing synced yet.
 */
export function testServer(
  specs: Record<string, PodIndexSpec>,
  opts: {
    kinds?: string[];
    trustedProxies?: TrustedProxies;
    logger?: FastifyBaseLogger;
    defaultService?: ServerDeps["defaultService"];
    statuses?: ServerDeps["statuses"];
    metrics?: (cache: PodCache) => Metrics;
    /** the clock staleness is measured with */
    now?: () => number;
  } = {},
): TestServer {
  const views = new ViewSet();
  for (const [name, spec] of Object.entries(specs)) views.set(PodIndexView.fromResource(podIndex(name, spec)));
  const cache = new PodCache({ keepAnnotation: k => views.annotationKeys().has(k) });
  const endpoints = new EndpointCache();
  const kinds = opts.kinds ?? ["pods", "podindexes", "endpointslices"];
  const readiness = new Readiness(kinds, opts.now);
  const services = new ServiceLookup(endpoints, views, readiness);
  const lookup = new PodLookup(cache, views, readiness, services);
  const forwardAuth = new ForwardAuth(lookup, views, readiness, opts.trustedProxies ?? TrustedProxies.none());
  const app = buildServer({
    lookup,
    services,
    defaultService: opts.defaultService,
    forwardAuth,
    readiness,
    podCount: () => cache.size,
    metrics:
      opts.metrics?.(cache) ??
      new Metrics({
        pods: () => cache.size,
        summaries: () => new Map(),
        sinks: () => new Map(),
        staleness: () => readiness.stalenessByKind(),
        maxStalenessMs: () => readiness.maxStalenessMs,
      }),
    statuses: opts.statuses ?? (() => new Map()),
    logger: opts.logger,
  });
  const sync = () => kinds.forEach(k => readiness.markSynced(k));
  return { app, views, cache, endpoints, readiness, lookup, services, forwardAuth, sync };
}
