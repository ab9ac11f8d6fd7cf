import { readFileSync } from "node:fs";
import { get } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually } from "../support/module";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";

/** How one raw HTTP/1.1 exchange went, byte by byte: what the client saw and how the connection ended. */
interface RawExchange {
  status: number;
  headers: Record<string, string>;
  /** the body with the chunked framing removed */
  body: string;
  /** the chunked terminator arrived: a clean end of the response */
  terminated: boolean;
  /** "fin": the server closed the connection; "reset": ECONNRESET; "open": still open when we stopped looking */
  ended: "fin" | "reset" | "open";
  bytes: number;
}

/** A raw GET on its own connection (keep-alive, so a clean end leaves the socket open). */
function rawGet(url: string, path: string) {
  const { port } = new URL(url);
  const socket = connect(Number(port), "127.0.0.1");
  let data = Buffer.alloc(0);
  let ended: RawExchange["ended"] = "open";
  const closed = new Promise<void>(resolve => {
    socket.on("data", (c: Buffer) => (data = Buffer.concat([data, c])));
    socket.on("end", () => ((ended = "fin"), resolve()));
    socket.on("error", (e: NodeJS.ErrnoException) => ((ended = e.code === "ECONNRESET" ? "reset" : "fin"), resolve()));
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n`);
  const view = (): RawExchange => {
    const text = data.toString("utf8");
    const split = text.indexOf("\r\n\r\n");
    const [statusLine, ...headerLines] = (split < 0 ? "" : text.slice(0, split)).split("\r\n");
    const headers = Object.fromEntries(
      headerLines.map(l => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
    );
    let rest = split < 0 ? "" : text.slice(split + 4);
    let body = "";
    let terminated = false;
    if (headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const eol = rest.indexOf("\r\n");
        if (eol < 0) break;
        const size = parseInt(rest.slice(0, eol), 16);
        if (size === 0) terminated = true;
        if (size === 0 || rest.length < eol + 2 + size) break;
        body += rest.slice(eol + 2, eol + 2 + size);
        rest = rest.slice(eol + 2 + size + 2);
      }
    } else body = rest;
    return { status: Number(statusLine?.split(" ")[1] ?? 0), headers, body, terminated, ended, bytes: data.length };
  };
  return { view, closed, socket };
}

const lines = (body: string) => body.split("\n").filter(Boolean);
const events = (body: string) => lines(body).map(l => JSON.parse(l) as KObject);

/** An http.get that reports the error code it failed with, if any. */
const getError = (url: string) =>
  new Promise<string | undefined>(resolve =>
    get(url, res => {
      res.resume();
      res.on("end", () => resolve(undefined));
    }).on("error", (e: NodeJS.ErrnoException) => resolve(e.code)),
  );

const transcript = (file: string) =>
  JSON.parse(readFileSync(join(__dirname, "transcripts", file), "utf8")) as {
    step: string;
    server?: string;
    response: KObject;
  }[];
const tx04 = transcript("04-resource-version-too-old-410.json");
/** an exchange recorded against the --watch-cache=false server, whose 410s the simulator's match */
const recorded = (startsWith: string) =>
  tx04.find(x => x.step.startsWith(startsWith) && x.server?.includes("watch-cache OFF"))!.response;

/** Faults the simulated apiserver injects, each observed with a plain HTTP client. */
describe("simulated kube-apiserver faults", () => {
  let sim: SimulatedApiServer;
  const pod = (name: string) =>
    sim.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "default" },
      spec: { nodeName: "node-a", containers: [{ name: "c", image: "nginx" }] },
    });
  const fetchJson = async (path: string) => {
    const res = await fetch(sim.url + path);
    return { status: res.status, headers: res.headers, body: (await res.json()) as KObject };
  };
  const listRv = async () => (await fetchJson("/api/v1/namespaces/default/pods")).body.metadata.resourceVersion;

  beforeEach(async () => {
    sim = await startApiServer({ bookmarkIntervalMs: 50 });
  });
  afterEach(() => sim.close());

  it("answers a list with the Status kube-apiserver sends for 410, 429, 500 and 503, with Retry-After for 429 and 503", async () => {
    const seen: Record<number, { status: number; retryAfter: string | null; body: KObject }> = {};
    for (const code of [410, 429, 500, 503] as const) {
      const remove = sim.faults.add({ resource: "pods", on: "list", action: { type: "status", code } });
      const res = await fetchJson("/api/v1/pods?limit=2");
      seen[code] = { status: res.status, retryAfter: res.headers.get("retry-after"), body: res.body };
      remove();
    }
    expect(seen[410]).toEqual({
      status: 410,
      retryAfter: null,
      body: recorded("list resourceVersion=211&limit=1").body,
    });
    const status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure" };
    expect(seen[429]).toEqual({
      status: 429,
      retryAfter: "1",
      body: {
        ...status,
        message: "storage is (re)initializing",
        reason: "TooManyRequests",
        details: { retryAfterSeconds: 1 },
        code: 429,
      },
    });
    expect(seen[500]).toMatchObject({ status: 500, retryAfter: null, body: { reason: "InternalError", code: 500 } });
    expect(seen[500].body.message).toMatch(/^Internal error occurred: /);
    expect(seen[503]).toMatchObject({
      status: 503,
      retryAfter: "5",
      body: { reason: "ServiceUnavailable", details: { retryAfterSeconds: 5 }, code: 503 },
    });
    sim.faults.add({ on: "watch", action: { type: "status", code: 429, retryAfterSeconds: 7 } });
    const watch = await fetchJson("/api/v1/pods?watch=1");
    expect([watch.status, watch.headers.get("retry-after"), watch.body.details]).toEqual([
      429,
      "7",
      { retryAfterSeconds: 7 },
    ]);
    expect((await fetchJson("/api/v1/pods")).status).toBe(200); // the rule was for watches only
  });

  it("expires a continue page as upstream does: a fresh rv -1 token continues the list at the current version", async () => {
    for (const n of ["a", "b", "c"]) pod(n);
    const first = await fetchJson("/api/v1/namespaces/default/pods?limit=1");
    sim.faults.add({ on: "continue", action: { type: "status", code: 410 }, times: 1 });
    const token = first.body.metadata.continue;
    const page = await fetchJson(`/api/v1/namespaces/default/pods?limit=1&continue=${encodeURIComponent(token)}`);
    const upstream = recorded("list with the continue token taken before compaction").body;
    expect(page.status).toBe(410);
    expect({ ...page.body, metadata: {} }).toEqual({ ...upstream, metadata: {} });
    const fresh = JSON.parse(Buffer.from(page.body.metadata.continue, "base64").toString("utf8"));
    expect(fresh).toEqual({ ...JSON.parse(Buffer.from(token, "base64").toString("utf8")), rv: -1 });
    pod("d"); // written after the first page: a list continued at the current version shows it
    const rest = await fetchJson(
      `/api/v1/namespaces/default/pods?limit=10&continue=${encodeURIComponent(page.body.metadata.continue)}`,
    );
    expect(rest.status).toBe(200);
    expect(rest.body.items.map((p: KObject) => p.metadata.name)).toEqual(["b", "c", "d"]);
    expect(Number(rest.body.metadata.resourceVersion)).toBe(sim.store.resourceVersion);
    // a real compaction expires the token the same way
    sim.compact();
    const compacted = await fetchJson(`/api/v1/namespaces/default/pods?limit=1&continue=${encodeURIComponent(token)}`);
    expect([compacted.status, compacted.body.metadata.continue]).toEqual([410, page.body.metadata.continue]);
  });

  it("expires a watch as upstream does: a 200 stream with one ERROR event (410 Expired), then a clean end", async () => {
    sim.faults.add({ on: "watch", action: { type: "status", code: 410 } });
    const w = rawGet(sim.url, `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${await listRv()}`);
    await eventually(() => expect(w.view().terminated).toBe(true));
    const upstream = recorded("watch from resourceVersion=1") as { headers: Record<string, string>; events: KObject[] };
    expect(w.view()).toMatchObject({ status: 200, headers: upstream.headers });
    expect(events(w.view().body)).toEqual(upstream.events.map(e => e.event));
    w.socket.destroy();
  });

  it("resets the connection before any response: ECONNRESET at the client, on lists and watches", async () => {
    sim.faults.add({ resource: "pods", on: ["list", "watch"], action: { type: "reset" } });
    expect(await getError(`${sim.url}/api/v1/pods`)).toBe("ECONNRESET");
    expect(await getError(`${sim.url}/api/v1/pods?watch=1`)).toBe("ECONNRESET");
    const w = rawGet(sim.url, "/api/v1/pods?watch=1");
    await w.closed;
    expect([w.view().ended, w.view().bytes]).toEqual(["reset", 0]);
    expect(await getError(`${sim.url}/apis/discovery.k8s.io/v1/endpointslices`)).toBeUndefined();
  });

  it("cuts a list page in the middle: 200 headers with the whole length, half the JSON, then ECONNRESET", async () => {
    for (const n of ["a", "b", "c"]) pod(n);
    sim.faults.add({ resource: "pods", on: "list", action: { type: "cutBody" }, times: 1 });
    const cut = rawGet(sim.url, "/api/v1/namespaces/default/pods");
    await cut.closed;
    const whole = await fetch(`${sim.url}/api/v1/namespaces/default/pods`).then(r => r.text());
    const { status, headers, body, ended } = cut.view();
    expect([status, ended]).toEqual([200, "reset"]);
    expect(Number(headers["content-length"])).toBe(Buffer.byteLength(whole));
    expect(body.length).toBeGreaterThan(0);
    expect(body.length).toBeLessThan(whole.length);
    expect(whole.startsWith(body)).toBe(true);
  });

  it("ends a watch at once when told: 200 watch headers, no event, the chunked terminator", async () => {
    pod("a");
    sim.faults.add({ on: "watch", action: { type: "endAtOnce" }, times: 1 });
    const w = rawGet(sim.url, "/api/v1/namespaces/default/pods?watch=1");
    await eventually(() => expect(w.view().terminated).toBe(true));
    expect(w.view()).toMatchObject({ status: 200, body: "", ended: "open" });
    expect(w.view().headers["transfer-encoding"]).toBe("chunked");
    w.socket.destroy();
  });

  it("cuts a watch after N events without the chunked terminator, by FIN or by RST", async () => {
    for (const n of ["a", "b", "c"]) pod(n);
    sim.faults.add({ on: "watch", action: { type: "cutAfter", events: 2 }, times: 1 });
    sim.faults.add({ on: "watch", action: { type: "cutAfter", events: 2, reset: true }, times: 1 });
    const fin = rawGet(sim.url, "/api/v1/namespaces/default/pods?watch=1");
    await fin.closed;
    const rst = rawGet(sim.url, "/api/v1/namespaces/default/pods?watch=1");
    await rst.closed;
    for (const [w, how] of [
      [fin, "fin"],
      [rst, "reset"],
    ] as const) {
      expect(w.view()).toMatchObject({ status: 200, terminated: false, ended: how });
      expect(events(w.view().body).map(e => [e.type, e.object.metadata.name])).toEqual([
        ["ADDED", "a"],
        ["ADDED", "b"],
      ]);
    }
  });

  it("cuts a watch in the middle of a line: one whole event, then half of the next, then the end", async () => {
    sim.faults.add({ on: "watch", action: { type: "cutAfter", events: 1, midLine: true } });
    const w = rawGet(sim.url, `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${await listRv()}`);
    await eventually(() => expect(w.view().status).toBe(200));
    pod("a");
    const b = pod("b");
    await w.closed;
    const { body, ended, terminated } = w.view();
    expect([ended, terminated]).toEqual(["fin", false]);
    const [whole, half] = body.split("\n");
    expect(JSON.parse(whole).object.metadata.name).toBe("a");
    const next = JSON.stringify({ type: "ADDED", object: b });
    expect(half.length).toBeGreaterThan(0);
    expect(half.length).toBeLessThan(next.length);
    expect(next.startsWith(half)).toBe(true);
  });

  it("stalls a watch after N events: nothing more, not even BOOKMARKs, while the socket stays open", async () => {
    pod("a");
    pod("b");
    sim.faults.add({ on: "watch", action: { type: "stall", afterEvents: 1 }, times: 1 });
    const path = "/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true"; // synthetic ADDED first
    const stalled = rawGet(sim.url, path);
    await eventually(() => expect(stalled.view().status).toBe(200));
    const control = rawGet(sim.url, path);
    await eventually(() => expect(control.view().status).toBe(200));
    pod("c");
    // while the control watch gets every pod and several bookmarks, the stalled one gets only its first event
    await eventually(() =>
      expect(events(control.view().body).filter(e => e.type === "BOOKMARK").length).toBeGreaterThanOrEqual(3),
    );
    expect(events(control.view().body).filter(e => e.type === "ADDED")).toHaveLength(3);
    expect(events(stalled.view().body).map(e => [e.type, e.object.metadata.name])).toEqual([["ADDED", "a"]]);
    expect(stalled.view()).toMatchObject({ ended: "open", terminated: false });
    expect(stalled.socket.destroyed).toBe(false);
    sim.dropWatches(); // a stalled watch is still an open watch
    await stalled.closed;
    control.socket.destroy();
  });

  it("stalls a list: no answer at all while other requests are served, until the client gives up", async () => {
    sim.faults.add({ resource: "pods", on: "list", action: { type: "stall" }, times: 1 });
    const stalled = rawGet(sim.url, "/api/v1/pods");
    await eventually(() => expect(sim.requests.filter(r => r.path === "/api/v1/pods")).toHaveLength(1));
    for (let i = 0; i < 5; i++) expect((await fetchJson("/api/v1/pods")).status).toBe(200);
    expect(stalled.view()).toMatchObject({ bytes: 0, ended: "open" });
    stalled.socket.destroy();
    expect((await fetchJson("/api/v1/pods")).status).toBe(200);
  });

  it("delays a list page and a watch's headers", async () => {
    sim.faults.add({ on: ["list", "watch"], action: { type: "delay", ms: 300 } });
    let t = Date.now();
    expect((await fetchJson("/api/v1/pods")).status).toBe(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(295);
    t = Date.now();
    const w = rawGet(sim.url, "/api/v1/pods?watch=1");
    await eventually(() => expect(w.view().status).toBe(200), 5000, 5);
    expect(Date.now() - t).toBeGreaterThanOrEqual(295);
    w.socket.destroy();
  });

  it("counts times over matching requests only, lets the first armed rule act, and disarms by remover or clear", async () => {
    const codes = async (path: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await fetch(sim.url + path).then(r => (r.body?.cancel(), r))).status);
      return out;
    };
    sim.faults.add({ resource: "pods", on: "list", action: { type: "status", code: 500 }, times: 2 });
    expect(await codes("/apis/discovery.k8s.io/v1/endpointslices", 1)).toEqual([200]); // another resource
    expect(await codes("/api/v1/pods", 3)).toEqual([500, 500, 200]);
    const first = sim.faults.add({ on: "list", action: { type: "status", code: 503 }, times: 1 });
    const second = sim.faults.add({ on: "list", action: { type: "status", code: 429 } });
    expect(await codes("/api/v1/pods", 3)).toEqual([503, 429, 429]);
    first(); // already spent: removing it again changes nothing
    second();
    expect(await codes("/api/v1/pods", 1)).toEqual([200]);
    sim.faults.add({ on: "list", action: { type: "status", code: 500 } });
    sim.faults.add({ on: "list", action: { type: "status", code: 503 } });
    sim.faults.clear();
    expect(await codes("/api/v1/pods", 1)).toEqual([200]);
  });

  it("refuses a rule that cannot act as written, with a clear error", () => {
    const add = (rule: unknown) => () => sim.faults.add(rule as Parameters<SimulatedApiServer["faults"]["add"]>[0]);
    expect(add({ on: "list", action: { type: "endAtOnce" } })).toThrow(/endAtOnce acts on watches only/);
    expect(add({ on: ["watch", "continue"], action: { type: "cutAfter", events: 1 } })).toThrow(/watches only/);
    expect(add({ on: "watch", action: { type: "status", code: 404 } })).toThrow(/status code must be one of/);
    expect(add({ on: [], action: { type: "reset" } })).toThrow(/"on" must name/);
    expect(add({ on: "list", action: { type: "reset" }, times: 0 })).toThrow(/"times"/);
    expect(add({ on: "watch", action: { type: "cutBody" } })).toThrow(/acts on lists and continue pages only/);
    expect(add({ on: "watch", action: { type: "explode" } })).toThrow(/unknown action/);
  });
});
