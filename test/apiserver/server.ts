import { load as loadYaml } from "js-yaml";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ApiError, PageNotFound, badRequest, expired, invalidOptions } from "./errors";
import { discovery } from "./discovery";
import { encode, listJson } from "./encode";
import {
  ContinueExpired,
  Faults,
  WatchLines,
  faultStatus,
  retryAfterHeader,
  type FaultAction,
  type RequestKind,
} from "./faults";
import { startEndpointSliceController } from "./endpointslice-controller";
import { openApiV3 } from "./openapi";
import { PROTOBUF, decodeProtobuf, protobufAsJson } from "./protobuf";
import { APPLY, applyPatchOfType, parsePatchBody } from "./patch";
import { apiVersionOf, peprStoreCrd, type KObject, type ResourceType } from "./resources";
import { parseFieldSelector, parseLabelSelector, type ObjectFilter } from "./selectors";
import { Store, type StoredEvent, type WriteOptions } from "./store";
import { includeObjectOf, toTable } from "./table";
import { writeQueryOptions } from "./write-options";

export { peprStoreCrd };
export type { KObject };
export type { FaultAction, FaultRule, RequestKind } from "./faults";

export interface ApiServerOptions {
  port?: number;
  host?: string;
  /** how often a watch with allowWatchBookmarks=true gets a BOOKMARK (kube-apiserver: ~60 s) */
  bookmarkIntervalMs?: number;
  /** how many changes are kept for watches to resume from; older RVs get 410 Expired */
  historyLimit?: number;
  /** act as a kubelet: finish graceful pod deletions after this delay */
  kubeletDeleteDelayMs?: number;
  /** CustomResourceDefinitions to serve from the start */
  crds?: object[];
  /** a slow apiserver: lists of these resources (by plural) answer after this many ms (30k real pods took 6.6 s) */
  listDelayMs?: Record<string, number>;
  /** run a simulated EndpointSlice controller for Services with selectors (off: tests write slices themselves) */
  endpointSliceController?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  contentType?: string;
  body?: unknown;
  at: number;
}

export interface SimulatedApiServer {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly store: Store;
  /** every request received, in order */
  readonly requests: RecordedRequest[];
  /** in-process create, with the same semantics as a POST (RV bump, watch events) */
  create<T extends object>(obj: T): T;
  get(apiVersion: string, kind: string, name: string, namespace?: string): KObject | undefined;
  list(apiVersion: string, kind: string, namespace?: string): KObject[];
  /** an etcd compaction: every older resourceVersion is now expired (410) */
  compact(): void;
  /** end every open watch stream, as an apiserver restart would */
  dropWatches(): void;
  /** faults injected into lists, continue pages and watches, armed per test (see faults.ts) */
  readonly faults: Faults;
  /**
   * Stop answering (connections refused, watches cut) until the returned function is called; the
   * store stays writable meanwhile, like a second apiserver on the same etcd (transcript 10).
   */
  outage(): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A resourceVersion that is not a number is a 500 with no reason, as upstream answers. */
function checkResourceVersion(rv: string | null): string | null {
  if (rv !== null && rv !== "" && !/^\d+$/.test(rv)) {
    throw new ApiError(
      500,
      undefined,
      `resourceVersion: Invalid value: "${rv}": strconv.ParseUint: parsing "${rv}": invalid syntax`,
    );
  }
  return rv;
}

/** A continue token in the shape upstream's paging uses (rv -1: continue at the current version). */
const continueToken = (rv: number, start: string) =>
  Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64");

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    return JSON.parse(Buffer.from(token, "base64").toString("utf8"));
  } catch {
    throw badRequest("continue key is not valid: illegal base64 data");
  }
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

const SYSTEM: WriteOptions = { fieldManager: "kube-apiserver", operation: "Update" };

interface Target {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Parse /api/v1/... and /apis/g/v/... into a resource target; undefined for other paths. */
function parseTarget(store: Store, segs: string[]): Target | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === "api" && segs.length >= 3) [group, version, rest] = ["", segs[1], segs.slice(2)];
  else if (segs[0] === "apis" && segs.length >= 4) [group, version, rest] = [segs[1], segs[2], segs.slice(3)];
  else return undefined;
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3 && rest[2] !== "status" && rest[2] !== "finalize") {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const type = store.type(group, version, rest[0]);
  if (!type || rest.length > 3 || (namespace && !type.namespaced)) throw new PageNotFound();
  if (rest[2] !== undefined && !(rest[2] === "status" && type.statusSubresource)) throw new PageNotFound();
  return { type, namespace, name: rest[1], subresource: rest[2] };
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJson(res, status, JSON.stringify(body), headers);
}

function sendJson(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-cache, private", ...headers });
  res.end(text);
}

/** The default field manager kube-apiserver derives from the User-Agent (`kubectl/v1.32 …` → `kubectl`). */
const managerFrom = (req: IncomingMessage, query: URLSearchParams) =>
  query.get("fieldManager") || (req.headers["user-agent"] ?? "unknown").split("/")[0].split(" ")[0];

/**
 * A simulated kube-apiserver on 127.0.0.1: real HTTP, the list/watch/write semantics our clients
 * rely on (see test/apiserver/README.md for what is and is not simulated).
 */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<SimulatedApiServer> {
  const store = new Store(opts.historyLimit, opts.kubeletDeleteDelayMs);
  for (const crd of opts.crds ?? [])
    store.create(store.type("apiextensions.k8s.io", "v1", "customresourcedefinitions")!, crd, SYSTEM);
  const requests: RecordedRequest[] = [];
  const watches = new Set<ServerResponse>();
  const bookmarkMs = opts.bookmarkIntervalMs ?? 60_000;
  const faults = new Faults();
  const stopController = opts.endpointSliceController ? startEndpointSliceController(store) : () => {};

  /** A list page; `cut`: its first half only, then a TCP RST (the cutBody fault). */
  async function list(
    res: ServerResponse,
    t: Target,
    query: URLSearchParams,
    accept: string,
    cut = false,
  ): Promise<void> {
    const asked = Number(checkResourceVersion(query.get("resourceVersion")) ?? 0);
    if (asked > store.resourceVersion && query.get("resourceVersionMatch") !== "Exact") {
      // kube-apiserver waits ~3 s for its cache to reach a version from the future, then gives up
      await new Promise(r => setTimeout(r, 3000));
      if (asked > store.resourceVersion) {
        throw new ApiError(
          504,
          "Timeout",
          `Timeout: Too large resource version: ${asked}, current: ${store.resourceVersion}`,
          {
            causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
            retryAfterSeconds: 1,
          },
        );
      }
    }
    const labels = parseLabelSelector(query.get("labelSelector"));
    const fields = parseFieldSelector(query.get("fieldSelector"), t.type.kind);
    const rvParam = query.get("resourceVersion");
    const match = query.get("resourceVersionMatch");
    if (match && !rvParam) {
      throw invalidOptions(
        "ListOptions",
        "resourceVersionMatch",
        "FieldValueForbidden",
        "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
      );
    }
    if (match && match !== "Exact" && match !== "NotOlderThan")
      throw new ApiError(422, "Invalid", `resourceVersionMatch: Unsupported value: "${match}"`);
    const limit = Number(query.get("limit") ?? 0);
    const pageable = limit > 0 && rvParam !== "0";
    if (rvParam && rvParam !== "0") {
      const rv = Number(rvParam);
      if ((match === "Exact" || (pageable && !match)) && store.isExpired(rv))
        throw expired("The resourceVersion for the provided list is too old.");
    }
    let listRv = String(store.resourceVersion);
    let start = "";
    const token = query.get("continue");
    if (token) {
      const decoded = decodeContinue(token);
      if (decoded.rv !== -1 && store.isExpired(decoded.rv)) throw new ContinueExpired(continueToken(-1, decoded.start));
      if (decoded.rv !== -1) listRv = String(decoded.rv);
      start = decoded.start;
    }
    const selected = query.get("labelSelector") || query.get("fieldSelector");
    const page = store.page(t.type, {
      namespace: t.namespace,
      // a token resumes after its key and a NUL (`ns/name\0`), as upstream's do
      after: start.endsWith("\u0000") ? start.slice(0, -1) : start,
      limit: pageable ? limit : 0,
      matches: selected ? o => labels(o) && fields(o) : undefined,
    });
    const metadata: KObject = { resourceVersion: listRv };
    if (page.lastKey !== undefined) {
      metadata.continue = continueToken(Number(listRv), `${page.lastKey}\u0000`);
      if (!query.get("labelSelector")) metadata.remainingItemCount = page.remaining;
    } else if (t.type.custom) metadata.continue = "";
    // served as stored: serialised at once, never changed
    const items = page.items;
    if (accept.includes("as=Table")) return send(res, 200, toTable(t.type, items, listRv, includeObjectOf(query)));
    const text = listJson({ kind: `${t.type.kind}List`, apiVersion: apiVersionOf(t.type), metadata }, items);
    if (!cut) return sendJson(res, 200, text);
    res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
    // as cutAfter's reset: the RST waits for the client to read what was written, or it can overtake it
    res.write(text.slice(0, text.length >> 1), () => setTimeout(() => res.socket?.resetAndDestroy(), 10));
  }

  function watch(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    query: URLSearchParams,
    fault: FaultAction | undefined,
  ): void {
    const labels = parseLabelSelector(query.get("labelSelector"));
    const fields = parseFieldSelector(query.get("fieldSelector"), t.type.kind);
    const inScope: ObjectFilter = o =>
      (!t.namespace || o.metadata?.namespace === t.namespace) && (!t.name || o.metadata?.name === t.name);
    const matches = (o: KObject | undefined) => !!o && inScope(o) && labels(o) && fields(o);
    const resource = `${t.type.group}/${t.type.version}/${t.type.plural}`;
    const rvParam = checkResourceVersion(query.get("resourceVersion"));
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-cache, private",
      "transfer-encoding": "chunked",
    });
    res.flushHeaders(); // like kube-apiserver: headers at once, even on an idle watch
    if (fault?.type === "endAtOnce") return void res.end();
    watches.add(res);
    let unsubscribe = () => {};
    const timers: NodeJS.Timeout[] = [];
    const quiet = () => {
      unsubscribe();
      timers.forEach(clearInterval);
    };
    const lines = new WatchLines(res, req.socket, fault, quiet);
    // kubectl get -w asks for Tables: each event then carries a one-row Table (DELETED without columns)
    const asTable = String(req.headers.accept ?? "").includes("as=Table");
    const include = includeObjectOf(query);
    const framed = (type: string, object: KObject) =>
      asTable && type !== "ERROR" && type !== "BOOKMARK"
        ? toTable(t.type, [object], object.metadata.resourceVersion, include, type !== "DELETED")
        : object;
    const write = (type: string, object: KObject) =>
      lines.write(`{"type":${JSON.stringify(type)},"object":${encode(framed(type, object))}}\n`);
    const deliver = (ev: StoredEvent) => {
      if (ev.resource !== resource) return;
      const before = ev.type !== "ADDED" && matches(ev.prev);
      const after = ev.type !== "DELETED" && matches(ev.object);
      if (ev.type === "DELETED") {
        if (matches(ev.object)) write("DELETED", ev.object);
      } else if (before && after) write("MODIFIED", ev.object);
      else if (after) write("ADDED", ev.object);
      else if (before)
        write("DELETED", {
          ...ev.prev,
          metadata: { ...ev.prev!.metadata, resourceVersion: ev.object.metadata.resourceVersion },
        });
    };
    let backlog: StoredEvent[] = [];
    try {
      if (fault?.type === "status" && fault.code === 410) throw faultStatus(fault, "watch", () => "");
      if (!rvParam || rvParam === "0") {
        for (const o of store.listShared(t.type, t.namespace)) if (matches(o)) write("ADDED", o);
      } else backlog = store.eventsSince(Number(rvParam));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // upstream: a 200 stream with one ERROR event carrying the Status, then the end
      write("ERROR", err.toStatus());
      watches.delete(res);
      if (!lines.stopped) res.end();
      return;
    }
    backlog.forEach(deliver);
    const finish = () => {
      quiet();
      watches.delete(res);
      const s = req.socket;
      if (!res.writableEnded && !s.destroyed && !s.writableEnded) res.end();
    };
    req.on("close", finish);
    if (lines.stopped) return;
    unsubscribe = store.subscribe(deliver);
    if (query.get("allowWatchBookmarks") === "true") {
      timers.push(
        setInterval(() => {
          const metadata = { resourceVersion: String(store.resourceVersion), creationTimestamp: null };
          write("BOOKMARK", {
            kind: t.type.kind,
            apiVersion: apiVersionOf(t.type),
            metadata,
            ...(t.type.kind === "Pod" ? { spec: { containers: null }, status: {} } : {}),
          });
        }, bookmarkMs),
      );
    }
    const timeout = Number(query.get("timeoutSeconds") ?? 0);
    if (timeout > 0) timers.push(setTimeout(finish, timeout * 1000));
  }

  async function write(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    query: URLSearchParams,
    bytes: Buffer,
  ): Promise<void> {
    const method = req.method!;
    const contentType = req.headers["content-type"] ?? "application/json";
    const raw = bytes.toString("utf8");
    const mediaType = String(contentType).split(";")[0].trim();
    // an object in a POST or PUT: JSON, YAML, or protobuf as kubectl's create generators send it
    const parseJson = (): KObject => {
      if (mediaType === PROTOBUF) return decodeProtobuf(t.type, bytes);
      try {
        if (mediaType === "application/yaml") return (loadYaml(raw) as KObject) ?? {};
        return raw ? JSON.parse(raw) : {};
      } catch {
        throw protobufAsJson(t.type, bytes) ?? badRequest("the body of the request could not be decoded as JSON");
      }
    };
    const warnings: string[] = [];
    const { dryRun, fieldValidation } = writeQueryOptions(method, query);
    const opts: WriteOptions = {
      fieldManager: managerFrom(req, query),
      operation: "Update",
      fieldValidation,
      warnings,
      dryRun,
      ...(t.subresource === "status" ? { subresource: "status" as const } : {}),
    };
    // pruned unknown fields come back as warning headers, as kube-apiserver sends them
    const reply = (status: number, out: unknown) =>
      send(
        res,
        status,
        out,
        warnings.length ? { warning: warnings.map(w => `299 - ${JSON.stringify(w)}`).join(", ") } : {},
      );
    if (method === "POST" && !t.name) return reply(201, store.create(t.type, parseJson(), opts, t.namespace));
    if (!t.name)
      throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
    if (method === "PUT") {
      const body = parseJson();
      const expectRv = body.metadata?.resourceVersion;
      return reply(
        200,
        store.update(t.type, t.namespace, t.name, () => body, { ...opts, expectRv }),
      );
    }
    if (method === "PATCH") {
      const patch = parsePatchBody(String(contentType), raw, t.type) as KObject;
      if (String(contentType).startsWith(APPLY)) {
        if (!query.get("fieldManager")) {
          throw invalidOptions(
            "PatchOptions",
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
          );
        }
        opts.operation = "Apply";
        if (!store.get(t.type, t.namespace, t.name)) {
          if (t.subresource)
            throw new ApiError(
              404,
              "NotFound",
              `${t.type.group ? `${t.type.plural}.${t.type.group}` : t.type.plural} "${t.name}" not found`,
              { name: t.name, kind: t.type.plural },
            );
          return reply(
            201,
            store.create(t.type, { ...patch, metadata: { ...patch.metadata, name: t.name } }, opts, t.namespace),
          );
        }
      }
      const expectRv = Array.isArray(patch) ? undefined : patch?.metadata?.resourceVersion;
      return reply(
        200,
        store.update(t.type, t.namespace, t.name, cur => applyPatchOfType(String(contentType), cur, patch), {
          ...opts,
          expectRv,
        }),
      );
    }
    if (method === "DELETE") {
      const options = raw ? parseJson() : {};
      const graceParam = query.get("gracePeriodSeconds") ?? options.gracePeriodSeconds;
      const result = store.delete(
        t.type,
        t.namespace,
        t.name,
        graceParam === undefined || graceParam === null ? undefined : Number(graceParam),
        dryRun,
      );
      return reply(200, result.object ?? result.status);
    }
    throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const bytes = req.method === "GET" ? Buffer.alloc(0) : await readBody(req);
    const raw = bytes.toString("utf8");
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      /* YAML or garbage: recorded as text */
    }
    requests.push({
      method: req.method ?? "GET",
      path: url.pathname + url.search,
      contentType: req.headers["content-type"],
      body,
      at: Date.now(),
    });
    try {
      const segs = url.pathname.split("/").filter(Boolean);
      const openApi = req.method === "GET" ? openApiV3(store.types(), url.pathname, url.searchParams) : undefined;
      if (openApi) return void res.writeHead(200, openApi.headers).end(openApi.body);
      const known = discovery(store, url.pathname, String(req.headers.accept ?? ""));
      if (known) return send(res, 200, known.body, known.headers);
      const t = parseTarget(store, segs);
      if (!t) throw new PageNotFound();
      if (req.method === "GET") {
        if (t.name) {
          const obj = store.mustGet(t.type, t.namespace, t.name);
          const accept = String(req.headers.accept ?? "");
          return send(
            res,
            200,
            accept.includes("as=Table")
              ? toTable(t.type, [obj], obj.metadata.resourceVersion, includeObjectOf(url.searchParams))
              : obj,
          );
        }
        const w = url.searchParams.get("watch");
        const token = url.searchParams.get("continue");
        const kind: RequestKind = w === "true" || w === "1" ? "watch" : token ? "continue" : "list";
        const fault = faults.take(t.type.plural, kind);
        if (fault?.type === "reset") return req.socket.resetAndDestroy();
        if (fault?.type === "stall" && kind !== "watch") return; // never answered
        if (fault?.type === "delay") {
          await sleep(fault.ms);
          if (req.socket.destroyed) return;
        }
        if (fault?.type === "status" && !(kind === "watch" && fault.code === 410))
          throw faultStatus(fault, kind, () => continueToken(-1, decodeContinue(token!).start));
        if (kind === "watch") return watch(req, res, t, url.searchParams, fault);
        const delay = opts.listDelayMs?.[t.type.plural];
        if (delay) await sleep(delay);
        return await list(res, t, url.searchParams, String(req.headers.accept ?? ""), fault?.type === "cutBody");
      }
      await write(req, res, t, url.searchParams, bytes);
    } catch (err) {
      if (res.headersSent) return void res.end();
      if (err instanceof PageNotFound) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        return void res.end("404 page not found\n");
      }
      if (err instanceof ApiError) return send(res, err.code, err.toStatus(), retryAfterHeader(err));
      send(res, 500, new ApiError(500, "InternalError", String(err)).toStatus());
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfigPath = join(mkdtempSync(join(tmpdir(), "podindex-sim-")), "kubeconfig");
  writeFileSync(kubeconfigPath, kubeconfig(url));

  const typeOf = (apiVersion: string, kind: string) => {
    const t = store.typeOf(apiVersion, kind);
    if (!t) throw new Error(`the simulated apiserver serves no ${apiVersion} ${kind}`);
    return t;
  };

  return {
    url,
    kubeconfigPath,
    store,
    requests,
    faults,
    create: <T extends object>(obj: T) => {
      const o = obj as KObject;
      return store.create(typeOf(o.apiVersion, o.kind), o, { fieldManager: "simulator", operation: "Update" }) as T;
    },
    get: (apiVersion, kind, name, namespace) => store.get(typeOf(apiVersion, kind), namespace, name),
    list: (apiVersion, kind, namespace) => store.list(typeOf(apiVersion, kind), namespace),
    compact: () => store.compact(),
    dropWatches: () => {
      for (const res of watches) res.destroy();
      watches.clear();
    },
    outage: async () => {
      for (const res of watches) res.destroy();
      watches.clear();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      return () => new Promise<void>(resolve => server.listen(port, opts.host ?? "127.0.0.1", () => resolve()));
    },
    close: async () => {
      stopController();
      store.close();
      for (const res of watches) res.destroy();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      rmSync(dirname(kubeconfigPath), { recursive: true, force: true });
    },
  };
}

/** A kubeconfig for a plain-HTTP server (client-node needs insecure-skip-tls-verify then). */
export function kubeconfig(url: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: podindex-sim",
    "    cluster:",
    `      server: ${url}`,
    "      insecure-skip-tls-verify: true",
    "users:",
    "  - name: podindex-sim",
    "    user:",
    "      token: podindex-simulator",
    "contexts:",
    "  - name: podindex-sim",
    "    context: { cluster: podindex-sim, user: podindex-sim }",
    "current-context: podindex-sim",
    "",
  ].join("\n");
}
