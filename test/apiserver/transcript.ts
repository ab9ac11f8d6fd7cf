import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { KObject } from "./resources";

/** The exchanges recorded from a real kube-apiserver v1.32, kept in the repository as test fixtures. */
export const TRANSCRIPTS = resolve(__dirname, "transcripts");

export interface Exchange {
  step: string;
  /** ms since the scenario started, when the request was sent */
  t: number;
  server?: string;
  repeat?: KObject;
  request: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    auth?: string;
    body?: unknown;
    /** 11 only: the body is protobuf bytes in base64 */
    bodyBase64?: boolean;
  };
  response: {
    status?: number | null;
    headers?: Record<string, string>;
    body?: unknown;
    bodyTrimmed?: KObject;
    events?: { ms: number; event: { type: string; object: KObject } }[];
    end?: { by: string; ms: number };
    connectionRefused?: boolean;
  };
}

export function loadTranscript(file: string): Exchange[] {
  const path = resolve(TRANSCRIPTS, file);
  if (!existsSync(path)) throw new Error(`transcript ${path} is missing`);
  return JSON.parse(readFileSync(path, "utf8")) as Exchange[];
}

/** The exchange of `file` whose step starts with `prefix` (e.g. `"3a."`). */
export function recordedStep(file: string, prefix: string): Exchange {
  const found = loadTranscript(file).find(x => x.step.startsWith(prefix));
  if (!found) throw new Error(`${file} has no step ${prefix}`);
  return found;
}

/** Send a recorded request (its method, headers and body, bytes for a base64 body) to `baseUrl`. */
export async function resend(
  baseUrl: string,
  x: Exchange,
  path = x.request.path,
): Promise<{ status: number; headers: Headers; body: KObject }> {
  const { method, headers, body, bodyBase64 } = x.request;
  const payload =
    body === undefined
      ? undefined
      : bodyBase64
        ? Buffer.from(String(body), "base64")
        : typeof body === "string"
          ? body
          : JSON.stringify(body);
  const res = await fetch(baseUrl + path, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text.startsWith("{") ? JSON.parse(text) : { text } };
}

export const isWatch = (x: Exchange) =>
  x.request.method === "GET" && /[?&]watch=(1|true)/.test(x.request.path) && x.response.status === 200;

/**
 * What of a response body must agree between the real apiserver and the simulator: the kind, the
 * top-level and metadata keys, a Status' reason and code, and a list's length and continuation —
 * never values the transcripts' README lists as varying (uids, versions, times, generated names).
 */
export function shape(body: unknown): unknown {
  if (typeof body !== "object" || body === null) return typeof body;
  const o = body as KObject;
  const s: KObject = { kind: o.kind, keys: Object.keys(o).sort() };
  if (o.kind === "Status") Object.assign(s, { status: o.status, reason: o.reason, code: o.code });
  if (Array.isArray(o.items)) {
    s.items = o.items.length;
    s.listMeta = Object.keys(o.metadata ?? {}).sort();
  } else if (o.metadata && o.kind !== "Status") {
    s.metadata = Object.keys(o.metadata)
      .filter(k => k !== "managedFields" && k !== "annotations")
      .sort();
  }
  if (o.kind === "Table") s.rows = o.rows?.length;
  return s;
}

/** The same projection a trimmed recorded body went through (its keptPaths). */
export function project(body: unknown, keptPaths: string[]): KObject {
  const out: KObject = {};
  for (const path of keptPaths) {
    const parts = path.split(".");
    let src: unknown = body;
    for (const p of parts) src = (src as KObject | undefined)?.[p];
    if (src === undefined) continue;
    let dst = out;
    parts.slice(0, -1).forEach(p => (dst = dst[p] ??= {}));
    dst[parts[parts.length - 1]] = src;
  }
  return out;
}

/**
 * Collect a watch response's events into `events` as they arrive; resolves "closed-by-server"
 * when the server ends the stream, "aborted" when the request is aborted.
 */
export async function readWatch(res: Response, events: KObject[]): Promise<"closed-by-server" | "aborted"> {
  let buffer = "";
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(chunk).toString("utf8");
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) if (line) events.push(JSON.parse(line));
    }
    return "closed-by-server";
  } catch {
    return "aborted";
  }
}

/** One request to the simulator as a client makes it: a JSON body when given; the answer's JSON (or text). */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<{ status: number; body: KObject }> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? {} : { "content-type": contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith("{") ? JSON.parse(text) : text) as KObject };
}
