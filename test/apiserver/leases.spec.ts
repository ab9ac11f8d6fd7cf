import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseMicroTime } from "./leases";
import type { KObject } from "./resources";
import { startApiServer, type SimulatedApiServer } from "./server";
import { loadTranscript, readWatch, shape, type Exchange } from "./transcript";

const LEASES = "/apis/coordination.k8s.io/v1/namespaces/tx11/leases";

/** coordination.k8s.io/v1 Leases as kube-apiserver v1.32 serves them (transcript 11, steps 8a0–8j). */
describe("simulated kube-apiserver: Leases", () => {
  let sim: SimulatedApiServer;
  const call = async (method: string, path: string, body?: unknown, contentType = "application/json") => {
    const res = await fetch(sim.url + path, {
      method,
      headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": contentType }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text.startsWith("{") ? JSON.parse(text) : text) as KObject };
  };
  const lease = (name: string, spec: KObject) => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name },
    spec,
  });

  beforeEach(async () => {
    sim = await startApiServer();
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "tx11" } });
  });
  afterEach(() => sim.close());

  it("lists coordination.k8s.io/v1 in discovery with a namespaced leases resource", async () => {
    const groups = (await call("GET", "/apis")).body.groups as KObject[];
    expect(groups.find(g => g.name === "coordination.k8s.io")).toEqual({
      name: "coordination.k8s.io",
      versions: [{ groupVersion: "coordination.k8s.io/v1", version: "v1" }],
      preferredVersion: { groupVersion: "coordination.k8s.io/v1", version: "v1" },
    });
    const list = await call("GET", "/apis/coordination.k8s.io/v1");
    expect(list.body.resources).toEqual([
      {
        name: "leases",
        singularName: "lease",
        namespaced: true,
        kind: "Lease",
        verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      },
    ]);
  });

  it("replays transcript 11's Lease steps: MicroTime 400s, create, GET, PUT, stale PUT 409, patches, watch, DELETE", async () => {
    const steps = loadTranscript("11-kubectl-fidelity-leases.json").filter(x => /^8[a-j]\d?\. /.test(x.step));
    expect(steps.map(x => x.step.split(".")[0])).toEqual([
      "8a0",
      "8a1",
      "8a",
      "8b",
      "8c",
      "8d",
      "8e",
      "8f",
      "8g",
      "8h",
      "8i",
      "8j",
    ]);
    // recorded resourceVersion → the simulator's, learned from each response
    const rvs = new Map<string, string>();
    const learn = (recorded: KObject | undefined, got: KObject) => {
      const r = recorded?.metadata?.resourceVersion;
      if (r && got.metadata?.resourceVersion) rvs.set(r, got.metadata.resourceVersion);
    };
    const translate = (x: Exchange) => {
      const body = structuredClone(x.request.body) as KObject | undefined;
      if (body?.metadata?.resourceVersion) body.metadata.resourceVersion = rvs.get(body.metadata.resourceVersion);
      const path = x.request.path.replace(/resourceVersion=(\d+)/, (_, rv) => `resourceVersion=${rvs.get(rv)}`);
      return { body, path };
    };
    /** Status bodies must agree to the letter (bar the uid), Leases in shape and spec */
    const agree = (recorded: KObject, got: KObject) => {
      expect(shape(got)).toEqual(shape(recorded));
      if (recorded.kind === "Status") {
        const { uid: recordedUid, ...details } = recorded.details ?? {};
        const { uid, ...gotDetails } = got.details ?? {};
        expect({ ...got, details: gotDetails }).toEqual({ ...recorded, details });
        expect(typeof uid).toBe(typeof recordedUid);
      } else expect(got.spec).toEqual(recorded.spec);
    };
    let watch: { events: KObject[]; done: Promise<void>; abort: AbortController } | undefined;
    let watchStep: Exchange | undefined;
    for (const x of steps) {
      const { body, path } = translate(x);
      if (x.response.events) {
        watchStep = x;
        const abort = new AbortController();
        const res = await fetch(sim.url + path, { signal: abort.signal });
        expect(res.status).toBe(200);
        const events: KObject[] = [];
        // the test aborts it, as the recorder did
        const done = readWatch(res, events).then(() => undefined);
        watch = { events, done, abort };
        continue;
      }
      const got = await call(x.request.method, path, body, x.request.headers?.["Content-Type"]);
      expect(`${x.step}: ${got.status}`).toBe(`${x.step}: ${x.response.status}`);
      agree(x.response.body as KObject, got.body);
      learn(x.response.body as KObject, got.body);
    }
    const expected = watchStep!.response.events!.map(e => e.event);
    await expect.poll(() => watch!.events.length).toBe(expected.length);
    watch!.abort.abort();
    await watch!.done;
    expect(watch!.events.map(e => e.type)).toEqual(expected.map(e => e.type));
    watch!.events.forEach((e, i) => agree(expected[i].object, e.object));
  });

  it("refuses a second create with 409 AlreadyExists and a PUT without the current version with 409 Conflict", async () => {
    const spec = { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-01-01T00:00:00.000000Z" };
    const created = await call("POST", LEASES, lease("l", spec));
    expect(created.status).toBe(201);
    const again = await call("POST", LEASES, lease("l", { ...spec, holderIdentity: "b" }));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      reason: "AlreadyExists",
      message: 'leases.coordination.k8s.io "l" already exists',
      details: { name: "l", group: "coordination.k8s.io", kind: "leases" },
    });
    const renewed = await call("PUT", `${LEASES}/l`, { ...created.body, spec: { ...spec, leaseTransitions: 1 } });
    expect(renewed.status).toBe(200);
    expect(Number(renewed.body.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.body.metadata.resourceVersion),
    );
    const stale = await call("PUT", `${LEASES}/l`, { ...created.body, spec: { ...spec, holderIdentity: "b" } });
    expect(stale.status).toBe(409);
    expect(stale.body.message).toBe(
      'Operation cannot be fulfilled on leases.coordination.k8s.io "l": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(sim.get("coordination.k8s.io/v1", "Lease", "l", "tx11")?.spec.holderIdentity).toBe("a");
    const listed = await call("GET", LEASES);
    expect(listed.body).toMatchObject({ kind: "LeaseList", apiVersion: "coordination.k8s.io/v1", items: [{ spec }] });
  });

  it("decodes a Lease before checking its version: a bad MicroTime with a stale version is a 400, not a 409", async () => {
    const created = await call("POST", LEASES, lease("l", { holderIdentity: "a" }));
    await call("PUT", `${LEASES}/l`, { ...created.body, spec: { holderIdentity: "b" } });
    const res = await call("PUT", `${LEASES}/l`, { ...created.body, spec: { renewTime: "2026-01-01T00:00:00Z" } });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe("BadRequest");
  });

  it("stores a MicroTime with an offset in UTC, keeping its 6 digits, as the apiserver writes it back", async () => {
    const res = await call(
      "POST",
      LEASES,
      lease("l", { acquireTime: "2026-01-01T02:30:00.000001+02:30", renewTime: "2025-12-31T23:00:00.999999-01:00" }),
    );
    expect(res.status).toBe(201);
    expect(res.body.spec).toEqual({
      acquireTime: "2026-01-01T00:00:00.000001Z",
      renewTime: "2026-01-01T00:00:00.999999Z",
    });
  });

  it("words MicroTime parse errors as Go's time.Parse does", () => {
    const as = '"2006-01-02T15:04:05.000000Z07:00"';
    expect(() => parseMicroTime("2026-01-01 00:00:00.000000Z")).toThrow(
      `parsing time "2026-01-01 00:00:00.000000Z" as ${as}: cannot parse " 00:00:00.000000Z" as "T"`,
    );
    expect(() => parseMicroTime("2026-13-01T00:00:00.000000Z")).toThrow(
      'parsing time "2026-13-01T00:00:00.000000Z": month out of range',
    );
    expect(() => parseMicroTime("2026-02-30T00:00:00.000000Z")).toThrow(
      'parsing time "2026-02-30T00:00:00.000000Z": day out of range',
    );
    expect(() => parseMicroTime("2026-01-01T00:00:00.000000Zjunk")).toThrow(
      'parsing time "2026-01-01T00:00:00.000000Zjunk": extra text: "junk"',
    );
    expect(() => parseMicroTime("2026-01-01T00:00:00.0000001Z")).toThrow(
      `parsing time "2026-01-01T00:00:00.0000001Z" as ${as}: cannot parse "1Z" as "Z07:00"`,
    );
    expect(parseMicroTime("2024-02-29T23:59:59.123456Z")).toBe("2024-02-29T23:59:59.123456Z");
  });
});
