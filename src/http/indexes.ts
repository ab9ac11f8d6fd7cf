import type { FastifyPluginAsync } from "fastify";
import type { PodIndexStatus } from "../kinds/podindex";

/** GET /v1/indexes and /v1/indexes/:name: each PodIndex's summary, as its status reports it. */
export const indexRoutes: FastifyPluginAsync<{ statuses: () => Map<string, PodIndexStatus> }> = async (
  app,
  { statuses },
) => {
  app.get("/v1/indexes", async () => {
    const items = [...statuses()].map(([name, status]) => ({ name, status }));
    return { items, count: items.length };
  });

  app.get<{ Params: { name: string } }>("/v1/indexes/:name", async (req, reply) => {
    const status = statuses().get(req.params.name);
    if (!status)
      return reply
        .code(404)
        .send({ error: "IndexNotFound", message: `no PodIndex named "${req.params.name}"`, index: req.params.name });
    return { name: req.params.name, status };
  });
};
