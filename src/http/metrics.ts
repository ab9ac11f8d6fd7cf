import type { FastifyPluginAsync } from "fastify";
import type { Metrics } from "../metrics";

/** GET /metrics in Prometheus' text format. */
export const metricsRoutes: FastifyPluginAsync<{ metrics: Metrics }> = async (app, { metrics }) => {
  app.addHook("onReady", async () => metrics.monitorEventLoop(true));
  app.addHook("onClose", async () => metrics.monitorEventLoop(false));
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
