import type { FastifyPluginAsync } from "fastify";
import type { Readiness } from "../readiness";

export interface HealthDeps {
  readiness: Readiness;
  /** pods held in the cache */
  podCount: () => number;
}

/**
 * Liveness and readiness: /healthz and /readyz (podindex), /health and /ready (the shapes of
 * pod-watcher, `pod_count`, and pod-index, `podCount`, in one body so clients of either work).
 * Ready means every kind's initial list is in and none was last proved current longer ago than
 * PODINDEX_MAX_STALENESS (computed at request time: a blocked timer cannot hide staleness).
 */
export const healthRoutes: FastifyPluginAsync<HealthDeps> = async (app, { readiness, podCount }) => {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    if (readiness.draining)
      return reply.code(503).send({ status: "not ready", reason: "shutting down", pods: podCount() });
    if (readiness.ready) {
      const stale = readiness.stale();
      if (stale.length === 0) return { status: "ready", pods: podCount() };
      return reply.code(503).send({ status: "stale", reason: readiness.staleReason(), stale, pods: podCount() });
    }
    return reply.code(503).send({
      status: "not ready",
      reason: [
        `waiting for the initial list of ${readiness.waitingFor.join(", ")}`,
        ...Object.entries(readiness.reasons).map(([kind, why]) => `${kind}: ${why}`),
      ].join("; "),
      waitingFor: readiness.waitingFor,
      pods: podCount(),
    });
  });

  app.get("/health", async () => {
    const n = podCount();
    return { status: "healthy", pod_count: n, podCount: n };
  });

  app.get("/ready", async (_req, reply) => {
    const n = podCount();
    if (readiness.ready && !readiness.draining && readiness.stale().length === 0)
      return { status: "ready", pod_count: n, podCount: n };
    return reply.code(503).send({ status: "not ready", pod_count: n, podCount: n });
  });
};
