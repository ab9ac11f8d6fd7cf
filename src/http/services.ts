import type { FastifyPluginAsync } from "fastify";
import type { ServiceEndpoint } from "../endpoints/endpoint-cache";
import type { EndpointsResult, ServiceLookup } from "../endpoints/service-lookup";
import { failure } from "./present";

export interface ServiceRoutesOptions {
  services: ServiceLookup;
  /** the Service /endpoints answers for when the query names none (KUBERNETES_POD_DISCOVERY_*) */
  defaultService?: { namespace?: string; name?: string };
}

/** podindex's shape of one endpoint: every address, the pod behind it, where it runs, its conditions and ports. */
function endpointView(e: ServiceEndpoint) {
  return {
    addresses: e.addresses,
    addressType: e.addressType,
    conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
    pod: e.pod ?? null,
    nodeName: e.nodeName ?? null,
    zone: e.zone ?? null,
    hostname: e.hostname ?? null,
    ports: e.ports,
    slice: e.slice,
  };
}

/**
 * A core/v1 Endpoints object built from the union of slices, as kubernetes-pod-discovery serves it:
 * one subset per distinct port list, ready endpoints in `addresses`, the others (not terminating)
 * in `notReadyAddresses`, each address with its pod as `targetRef`; empty lists omitted as Go's
 * omitempty does.
 */
function legacyEndpoints(namespace: string, name: string, endpoints: ServiceEndpoint[]) {
  type Address = { ip: string; hostname?: string; nodeName?: string; targetRef?: object };
  const subsets = new Map<string, { addresses: Address[]; notReadyAddresses: Address[]; ports: object[] }>();
  for (const e of endpoints) {
    if (e.addressType === "FQDN" || (!e.ready && e.terminating)) continue;
    const ports = e.ports.map(p => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      protocol: p.protocol,
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    }));
    const k = JSON.stringify(ports);
    const subset = subsets.get(k) ?? { addresses: [], notReadyAddresses: [], ports };
    subsets.set(k, subset);
    for (const ip of e.addresses) {
      const address: Address = {
        ip,
        ...(e.hostname ? { hostname: e.hostname } : {}),
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        ...(e.pod ? { targetRef: { kind: "Pod", namespace: e.pod.namespace, name: e.pod.name, uid: e.pod.uid } } : {}),
      };
      (e.ready ? subset.addresses : subset.notReadyAddresses).push(address);
    }
  }
  return {
    kind: "Endpoints",
    apiVersion: "v1",
    metadata: { name, namespace },
    subsets: [...subsets.values()].map(s => ({
      ...(s.addresses.length ? { addresses: s.addresses } : {}),
      ...(s.notReadyAddresses.length ? { notReadyAddresses: s.notReadyAddresses } : {}),
      ports: s.ports,
    })),
  };
}

type Failure = Exclude<EndpointsResult, { kind: "hit" }>;

function serviceFailure(result: Failure, subject: string) {
  if (result.kind === "miss") {
    return {
      status: 404,
      body: { error: "NotFound", message: `no followed EndpointSlice belongs to Service ${subject}` },
    };
  }
  return failure(result, subject);
}

/**
 * Services: GET /v1/services/:namespace/:name/endpoints (podindex's shape) and GET /endpoints
 * (kubernetes-pod-discovery's core/v1 Endpoints shape). Only slices some PodIndex follows count.
 */
export const serviceRoutes: FastifyPluginAsync<ServiceRoutesOptions> = async (app, { services, defaultService }) => {
  app.get<{ Params: { namespace: string; name: string }; Querystring: { index?: string } }>(
    "/v1/services/:namespace/:name/endpoints",
    { config: { lookup: "service-endpoints" } },
    async (req, reply) => {
      const { namespace, name } = req.params;
      const result = services.endpoints(namespace, name, req.query.index);
      if (result.kind !== "hit") {
        const { status, body } = serviceFailure(result, `${namespace}/${name}`);
        return reply.code(status).send(body);
      }
      const e = result.endpoints;
      return {
        namespace,
        name,
        indexes: result.indexes,
        counts: {
          endpoints: e.length,
          ready: e.filter(x => x.ready).length,
          serving: e.filter(x => x.serving).length,
          terminating: e.filter(x => x.terminating).length,
        },
        endpoints: e.map(endpointView),
      };
    },
  );

  app.get<{ Querystring: { namespace?: string; service?: string; index?: string } }>(
    "/endpoints",
    { config: { lookup: "compat-endpoints" } },
    async (req, reply) => {
      const namespace = req.query.namespace || defaultService?.namespace;
      const name = req.query.service || defaultService?.name;
      if (!namespace || !name) {
        return reply.code(400).send({ error: "namespace and service parameters are required" });
      }
      const result = services.endpoints(namespace, name, req.query.index);
      if (result.kind === "hit") return legacyEndpoints(namespace, name, result.endpoints);
      const { status, body } = serviceFailure(result, `${namespace}/${name}`);
      return reply.code(status).send({ error: body.message, reason: body.error });
    },
  );
};
