import type { FastifyPluginAsync } from "fastify";
import type { PodKey } from "../cache/pod-order";
import type { PodLookup } from "../lookup";
import { PodJson } from "./pod-json";
import { failure, podView } from "./present";

/** GET /v1/pods pages: this many pods without `limit`, and never more than the maximum. */
export const DEFAULT_PAGE = 500;
export const MAX_PAGE = 5000;

/** A continue token: the key the page stopped at, opaque to clients (base64url of JSON). */
export const encodeContinue = (key: PodKey): string => Buffer.from(JSON.stringify(key)).toString("base64url");

export function decodeContinue(token: string): PodKey | undefined {
  try {
    const key: unknown = JSON.parse(Buffer.from(token, "base64url").toString());
    const [namespace, name, uid] = Array.isArray(key) && key.length === 3 ? key : [];
    if (typeof namespace === "string" && typeof name === "string" && typeof uid === "string")
      return [namespace, name, uid];
  } catch {
    // not JSON: refused below
  }
  return undefined;
}

/** `limit` and `continue` of a list request, or why they are refused. */
function paging(query: { limit?: unknown; continue?: unknown }): { limit: number; after?: PodKey } | string {
  const { limit, continue: token } = query;
  let n = DEFAULT_PAGE;
  if (limit !== undefined) {
    n = typeof limit === "string" && /^\d{1,9}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_PAGE))
      return `limit must be a whole number from 1 to ${MAX_PAGE} (got ${JSON.stringify(limit)})`;
  }
  if (token === undefined || token === "") return { limit: n };
  const after = typeof token === "string" ? decodeContinue(token) : undefined;
  if (!after) return "continue is not a token a previous page of GET /v1/pods returned";
  return { limit: n, after };
}

type ListQuery = { Querystring: { namespace?: string; index?: string; limit?: string; continue?: string } };

type IndexQuery = { Querystring: { index?: string } };

const JSON_TYPE = "application/json; charset=utf-8";

/** podindex's own lookups: /v1/pods/by-ip/:ip, /v1/pods/by-uid/:uid, /v1/pods. */
export const podRoutes: FastifyPluginAsync<{ lookup: PodLookup }> = async (app, { lookup }) => {
  // a hit's body is text made once per pod (see PodJson); the handlers are synchronous: no promise per answer
  const pods = new PodJson();

  app.get<IndexQuery & { Params: { ip: string } }>(
    "/v1/pods/by-ip/:ip",
    { config: { lookup: "by-ip" } },
    (req, reply) => {
      const { ip } = req.params;
      const result = lookup.byIp(ip, req.query.index);
      if (result.kind === "hit") {
        reply.type(JSON_TYPE).send(pods.byIp(ip, result.pod));
        return;
      }
      const { status, body } = failure(result, `IP ${ip}`);
      reply.code(status).send({ ...body, ip });
    },
  );

  app.get<IndexQuery & { Params: { uid: string } }>(
    "/v1/pods/by-uid/:uid",
    { config: { lookup: "by-uid" } },
    (req, reply) => {
      const result = lookup.byUid(req.params.uid, req.query.index);
      if (result.kind === "hit") {
        reply.type(JSON_TYPE).send(`{"pod":${pods.text(result.pod)}}`);
        return;
      }
      const { status, body } = failure(result, `UID ${req.params.uid}`);
      reply.code(status).send({ ...body, uid: req.params.uid });
    },
  );

  app.get<ListQuery>("/v1/pods", { config: { lookup: "list" } }, async (req, reply) => {
    const page = paging(req.query);
    if (typeof page === "string") return reply.code(400).send({ error: "BadRequest", message: page });
    const result = lookup.list({ namespace: req.query.namespace, index: req.query.index, ...page });
    if (result.kind === "list") {
      const body = { items: result.pods.map(podView), count: result.pods.length };
      return result.next ? { ...body, continue: encodeContinue(result.next) } : body;
    }
    const { status, body } = failure(result, "");
    return reply.code(status).send(body);
  });
};
