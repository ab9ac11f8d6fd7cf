import type { FastifyPluginAsync } from "fastify";
import { HEADER_PREFIX, type Decision, type ForwardAuth } from "../forward-auth/authorize";
import type { Metrics } from "../metrics";

type ForwardAuthQuery = { Querystring: { index?: string; namespace?: string; name?: string } };

/** Longest X-Forwarded-Uri/-Host a target pattern is run on: patterns are regular expressions. */
const MAX_MATCHED_HEADER = 8192;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * GET /v1/forward-auth: the endpoint a proxy's forward_auth pre-flights each call with. 2xx allows
 * (identity headers for the upstream), 403 denies, 400 refuses a malformed request, 503 means not
 * synced yet. Every decision is logged as one line and counted by result and reason.
 */
export const forwardAuthRoutes: FastifyPluginAsync<{ forwardAuth: ForwardAuth; metrics: Metrics }> = async (
  app,
  { forwardAuth, metrics },
) => {
  app.get<ForwardAuthQuery>("/v1/forward-auth", { config: { lookup: "forward-auth" } }, async (req, reply) => {
    const forwardedUri = single(req.headers["x-forwarded-uri"]);
    const forwardedHost = single(req.headers["x-forwarded-host"]);
    const tooLong = [forwardedUri, forwardedHost].some(v => v !== undefined && v.length > MAX_MATCHED_HEADER);
    const decision: Decision = tooLong
      ? {
          status: 400,
          allowed: false,
          reason: "BadRequest",
          message: `X-Forwarded-Uri and X-Forwarded-Host are limited to ${MAX_MATCHED_HEADER} characters`,
          headers: {},
        }
      : forwardAuth.decide({
          index: req.query.index,
          peer: req.socket.remoteAddress,
          forwardedFor: req.headers["x-forwarded-for"],
          target: { namespace: req.query.namespace, name: req.query.name, forwardedUri, forwardedHost },
        });
    const { pod, caller, target } = decision;
    metrics.forwardAuthDecisions.inc({
      podindex: decision.podindex ?? "",
      result: decision.allowed ? "allow" : "deny",
      reason: decision.reason,
    });
    req.log.info(
      {
        decision: decision.allowed ? "allow" : "deny",
        status: decision.status,
        reason: decision.reason,
        podindex: decision.podindex,
        callerIp: caller?.ip,
        callerIpFrom: caller?.source,
        peer: req.socket.remoteAddress,
        caller: pod ? `${pod.namespace}/${pod.name}` : undefined,
        target: target ? `${target.namespace}${target.name ? `/${target.name}` : ""}` : undefined,
      },
      `forward-auth ${decision.allowed ? "allowed" : "denied"}: ${decision.message}`,
    );
    return reply
      .code(decision.status)
      .headers({ ...decision.headers, [`${HEADER_PREFIX}Reason`]: decision.reason })
      .send({
        allowed: decision.allowed,
        reason: decision.reason,
        message: decision.message,
        podindex: decision.podindex ?? null,
        caller: caller
          ? {
              ip: caller.ip,
              ipFrom: caller.source,
              pod: pod
                ? {
                    name: pod.name,
                    namespace: pod.namespace,
                    uid: pod.uid,
                    serviceAccountName: pod.serviceAccountName ?? null,
                  }
                : null,
            }
          : null,
        target: target ? { namespace: target.namespace, name: target.name ?? null, from: target.from } : null,
      });
  });
};
