import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { ServiceLookup } from "../endpoints/service-lookup";
import type { ForwardAuth } from "../forward-auth/authorize";
import type { PodIndexStatus } from "../kinds/podindex";
import type { PodLookup } from "../lookup";
import { lookupResult, type Metrics } from "../metrics";
import { compatRoutes } from "./compat";
import { forwardAuthRoutes } from "./forward-auth";
import { healthRoutes, type HealthDeps } from "./health";
import { indexRoutes } from "./indexes";
import { metricsRoutes } from "./metrics";
import { podRoutes } from "./pods";
import { serviceRoutes } from "./services";

export interface ServerDeps extends HealthDeps {
  lookup: PodLookup;
  forwardAuth: ForwardAuth;
  services: ServiceLookup;
  /** the Service GET /endpoints answers for when its query names none */
  defaultService?: { namespace?: string; name?: string };
  metrics: Metrics;
  /** each PodIndex's current status (computed on request) */
  statuses: () => Map<string, PodIndexStatus>;
  /** a pino logger for errors; none when omitted (tests) */
  logger?: FastifyBaseLogger;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** set on lookup routes: the `route` label their results and latency are counted under */
    lookup?: string;
  }
}

/** The lookup server: every route family is a plugin that only reads what it is given. */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app: FastifyInstance = deps.logger
    ? Fastify({ loggerInstance: deps.logger, disableRequestLogging: true })
    : Fastify();
  const { metrics } = deps;
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.config.lookup;
    if (!route) return;
    metrics.lookups.inc({ route, result: lookupResult(reply.statusCode) });
    metrics.lookupSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.register(healthRoutes, { readiness: deps.readiness, podCount: deps.podCount });
  app.register(metricsRoutes, { metrics });
  app.register(podRoutes, { lookup: deps.lookup });
  app.register(compatRoutes, { lookup: deps.lookup });
  app.register(forwardAuthRoutes, { forwardAuth: deps.forwardAuth, metrics });
  app.register(serviceRoutes, { services: deps.services, defaultService: deps.defaultService });
  app.register(indexRoutes, { statuses: deps.statuses });
  return app;
}
