import type { FastifyPluginAsync } from "fastify";
import type { PodLookup } from "../lookup";
import { failure, podView } from "./present";

type IndexQuery = { Querystring: { index?: string } };

/** podindex's own lookups: /v1/pods/by-ip/:ip, /v1/pods/by-uid/:uid, /v1/pods. */
export const podRoutes: FastifyPluginAsync<{ lookup: PodLookup }> = async (app, { lookup }) => {
  app.get<IndexQuery & { Params: { ip: string } }>(
    "/v1/pods/by-ip/:ip",
    { config: { lookup: "by-ip" } },
    async (req, reply) => {
      const result = lookup.byIp(req.params.ip, req.query.index);
      if (result.kind === "hit") return { ip: req.params.ip, pod: podView(result.pod) };
      const { status, body } = failure(result, `IP ${req.params.ip}`);
      return reply.code(status).send({ ...body, ip: req.params.ip });
    },
  );

  app.get<IndexQuery & { Params: { uid: string } }>(
    "/v1/pods/by-uid/:uid",
    { config: { lookup: "by-uid" } },
    async (req, reply) => {
      const result = lookup.byUid(req.params.uid, req.query.index);
      if (result.kind === "hit") return { pod: podView(result.pod) };
      const { status, body } = failure(result, `UID ${req.params.uid}`);
      return reply.code(status).send({ ...body, uid: req.params.uid });
    },
  );

  app.get<{ Querystring: { namespace?: string; index?: string } }>(
    "/v1/pods",
    { config: { lookup: "list" } },
    async (req, reply) => {
      const result = lookup.list(req.query);
      if (result.kind === "list") return { items: result.pods.map(podView), count: result.pods.length };
      const { status, body } = failure(result, "");
      return reply.code(status).send(body);
    },
  );
};
