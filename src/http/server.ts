import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { STATUS_CODES, maxHeaderSize, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
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
  const app: FastifyInstance = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
    logController: new LogController({ disableRequestLogging: true }),
    // a missing Host is refused in onRequest below, with a JSON reason (Node's own 400 has no body)
    http: { requireHostHeader: false },
    clientErrorHandler: refuseMalformed,
  });
  const { metrics } = deps;
  app.server.on("connect", refuseConnect);
  app.server.on("checkExpectation", refuseExpectation);
  // hooks on every request are callback-style: an async hook costs a promise and a turn per request
  app.addHook("onRequest", (req, reply, done) => {
    if (req.raw.httpVersion === "1.1" && req.headers.host === undefined) {
      reply
        .code(400)
        .header("connection", "close")
        .send({ error: "BadRequest", message: "an HTTP/1.1 request must carry a Host header" });
      return;
    }
    // a request with a body goes on once the bytes in hand are parsed (a turn later, as an async hook
    // would): a malformed body is then refused as such (400) before any route answers
    if (req.headers["transfer-encoding"] !== undefined || req.headers["content-length"] !== undefined)
      queueMicrotask(() => done());
    else done();
  });
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD" && app.findRoute({ method: "GET", url: path })) {
      return reply
        .code(405)
        .header("allow", "GET, HEAD")
        .send({
          error: "MethodNotAllowed",
          message: `${req.method} is not allowed on ${path}: it answers GET and HEAD`,
        });
    }
    return reply.code(404).send({ error: "NotFound", message: `no route ${req.method} ${path}` });
  });
  app.addHook("onResponse", (req, reply, done) => {
    const route = req.routeOptions.config.lookup;
    if (route) metrics.lookupAnswered(route, lookupResult(reply.statusCode), reply.elapsedTime / 1000);
    done();
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

/** The JSON body every refusal below carries: a machine-readable `error` and a sentence saying what was wrong. */
function refusal(status: number, error: string, message: string, extra: Record<string, string> = {}): string {
  const body = JSON.stringify({ error, message, ...extra });
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(status === 405 ? ["Allow: GET, HEAD"] : []),
    "Connection: close",
    "",
    body,
  ].join("\r\n");
}

/** What a parse error of Node's HTTP parser (llhttp) means, in words a client can act on. */
const PARSE_ERRORS: Record<string, string> = {
  HPE_INVALID_METHOD: "the request method is not a valid HTTP method (methods are upper-case, e.g. GET)",
  HPE_INVALID_URL: "the request target contains characters a URL may not (control characters, spaces)",
  HPE_INVALID_VERSION: "the request line does not end in a valid HTTP version (HTTP/1.0 or HTTP/1.1)",
  HPE_UNEXPECTED_CONTENT_LENGTH:
    "the request has more than one Content-Length, or both Content-Length and chunked encoding",
  HPE_INVALID_CONTENT_LENGTH: "the Content-Length header is not a single whole number",
  HPE_INVALID_CHUNK_SIZE: "the chunked request body is malformed (a chunk size is not hexadecimal)",
  HPE_INVALID_HEADER_TOKEN: "a header contains a character headers may not (e.g. NUL or a control character)",
  HPE_INVALID_TRANSFER_ENCODING: "the Transfer-Encoding header is invalid",
  HPE_LF_EXPECTED: "a line of the request does not end in CRLF",
  HPE_CR_EXPECTED: "a line of the request does not end in CRLF",
};

/**
 * Fastify's clientErrorHandler (Node's 'clientError'): a request Node's parser refused before any
 * route saw it. Answered with its status and what was wrong, then the connection is closed.
 */
function refuseMalformed(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const code = err.code ?? "";
  let answer: string;
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    answer = refusal(408, "RequestTimeout", "the request was not received in time");
  } else if (code === "HPE_HEADER_OVERFLOW") {
    answer = refusal(431, "HeadersTooLarge", `the request headers exceed the server's limit of ${maxHeaderSize} bytes`);
  } else {
    const detail = err.reason ?? err.message;
    const meaning = PARSE_ERRORS[code] ?? "the request is not valid HTTP/1.1";
    answer = refusal(400, "BadRequest", `malformed request: ${meaning} (${detail})`, code ? { code } : {});
  }
  // the answer is flushed before the connection goes: a destroy right away could lose it to a reset
  if (socket.writable) socket.end(answer, () => socket.destroy());
  else socket.destroy();
}

/** Node's 'connect' event: CONNECT (a tunnel request) is refused; podindex is no proxy. */
function refuseConnect(_req: IncomingMessage, socket: Duplex): void {
  const answer = refusal(
    405,
    "MethodNotAllowed",
    "CONNECT is not allowed: podindex is not a proxy; it answers GET and HEAD",
  );
  socket.end(answer, () => socket.destroy());
}

/** Node's 'checkExpectation' event: an Expect other than 100-continue (which Node handles itself). */
function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify({
    error: "ExpectationFailed",
    message: `Expect: ${req.headers.expect} cannot be met; the only expectation supported is 100-continue`,
  });
  res
    .writeHead(417, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      connection: "close",
    })
    .end(body);
}
