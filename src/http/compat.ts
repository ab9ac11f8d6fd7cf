import type { FastifyPluginAsync } from "fastify";
import { Readable } from "node:stream";
import { setImmediate as turn } from "node:timers/promises";
import type { ListResult, LookupResult, PodLookup } from "../lookup";
import { failure, podIndexView, podWatcherView } from "./present";

/** GET /pods is written this many pods at a time, the event loop free between (lookups answer meanwhile). */
export const COMPAT_CHUNK = 500;

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
      const { namespace } = req.query;
      const first = lookup.list({ namespace, limit: COMPAT_CHUNK });
      if (first.kind !== "list") return sendFailure(reply, first, "");
      return reply.type("application/json; charset=utf-8").send(Readable.from(podWatcherMap(lookup, namespace, first)));
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

/**
 * pod-watcher's map of pods by IP, as JSON text in chunks: a pod appears under each IP it alone
 * owns. Each chunk is one page of the list (its pods in namespace/name order), the next one read
 * after a turn of the event loop, so a pod present throughout is listed once however the cache
 * changes meanwhile; an IP that moved to a later pod is listed once, under the first.
 */
async function* podWatcherMap(
  lookup: PodLookup,
  namespace: string | undefined,
  first: Extract<ListResult, { kind: "list" }>,
): AsyncGenerator<string> {
  const seen = new Set<string>();
  yield '{"pods":{';
  for (let page = first; ; ) {
    const entries: string[] = [];
    for (const pod of page.pods) {
      for (const ip of pod.record.podIPs) {
        if (seen.has(ip)) continue;
        const owner = lookup.byIp(ip);
        if (owner.kind !== "hit" || owner.pod.record.uid !== pod.record.uid) continue;
        seen.add(ip);
        entries.push(`${JSON.stringify(ip)}:${JSON.stringify(podWatcherView(pod, ip))}`);
      }
    }
    if (entries.length > 0) yield (seen.size > entries.length ? "," : "") + entries.join(",");
    if (!page.next) break;
    await turn();
    const next = lookup.list({ namespace, limit: COMPAT_CHUNK, after: page.next });
    // headers are out: a list that can no longer be answered (stale meanwhile) cuts the response short
    if (next.kind !== "list") throw new Error(`GET /pods stopped: the pod list answers ${next.kind} now`);
    page = next;
  }
  yield `},"count":${seen.size}}`;
}
