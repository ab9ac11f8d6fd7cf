import type { FastifyPluginAsync } from "fastify";
import type { LookupResult, PodLookup } from "../lookup";
import { failure, podIndexView, podWatcherView } from "./present";

/**
 * The routes the reference tools' users already call, each in that tool's own JSON shape:
 * pod-watcher (GET /pod?ip=, GET /pods?namespace=) and pod-index (GET /api/v1/pod?uid=).
 * Their error bodies are `{"error": "<message>"}`; podindex's extra detail rides along.
 */
export const compatRoutes: FastifyPluginAsync<{ lookup: PodLookup }> = async (app, { lookup }) => {
  app.get<{ Querystring: { ip?: string } }>("/pod", { config: { lookup: "compat-pod" } }, async (req, reply) => {
    const { ip } = req.query;
    if (!ip) return reply.code(400).send({ error: "IP parameter is required" });
    const result = lookup.byIp(ip);
    if (result.kind === "hit") return podWatcherView(result.pod, ip);
    if (result.kind === "miss")
      return reply.code(404).send({ error: `No pod found with IP ${ip}`, reason: result.reason });
    return sendFailure(reply, result, `IP ${ip}`);
  });

  app.get<{ Querystring: { namespace?: string } }>(
    "/pods",
    { config: { lookup: "compat-pods" } },
    async (req, reply) => {
      const result = lookup.list({ namespace: req.query.namespace });
      if (result.kind !== "list") return sendFailure(reply, result, "");
      // pod-watcher keys its map by pod IP; a pod appears under each IP it alone owns.
      const pods: Record<string, ReturnType<typeof podWatcherView>> = {};
      for (const pod of result.pods) {
        for (const ip of pod.record.podIPs) {
          const owner = lookup.byIp(ip);
          if (owner.kind === "hit" && owner.pod.record.uid === pod.record.uid) pods[ip] = podWatcherView(pod, ip);
        }
      }
      return { pods, count: Object.keys(pods).length };
    },
  );

  app.get<{ Querystring: { uid?: string } }>(
    "/api/v1/pod",
    { config: { lookup: "compat-api-v1-pod" } },
    async (req, reply) => {
      const { uid } = req.query;
      if (!uid) return reply.code(400).send({ error: "uid parameter is required" });
      const result = lookup.byUid(uid);
      if (result.kind === "hit") return podIndexView(result.pod);
      if (result.kind === "miss") return reply.code(404).send({ error: `pod with UID ${uid} not found` });
      return sendFailure(reply, result, `UID ${uid}`);
    },
  );
};

function sendFailure(
  reply: { code(n: number): { send(b: unknown): unknown } },
  result: Exclude<LookupResult, { kind: "hit" }>,
  subject: string,
) {
  const { status, body } = failure(result, subject);
  return reply.code(status).send({ ...body, error: body.message, reason: body.error });
}
