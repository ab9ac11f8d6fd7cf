import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { PodLookup } from "../lookup";
import { compatRoutes } from "./compat";
import { healthRoutes, type HealthDeps } from "./health";
import { podRoutes } from "./pods";

export interface ServerDeps extends HealthDeps {
  lookup: PodLookup;
  /** a pino logger for errors; none when omitted (tests) */
  logger?: FastifyBaseLogger;
}

/** The lookup server: every route family is a plugin that only reads what it is given. */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app: FastifyInstance = deps.logger
    ? Fastify({ loggerInstance: deps.logger, disableRequestLogging: true })
    : Fastify();
  app.register(healthRoutes, { readiness: deps.readiness, podCount: deps.podCount });
  app.register(podRoutes, { lookup: deps.lookup });
  app.register(compatRoutes, { lookup: deps.lookup });
  return app;
}
