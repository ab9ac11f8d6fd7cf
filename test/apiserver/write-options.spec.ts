import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { podIndexCrd } from "../support/cluster";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";
import { callApi, recordedStep, resend } from "./transcript";

const FILE = "11-kubectl-fidelity-leases.json";

/** dryRun and fieldValidation parameters of writes, against transcript 11 (steps 2g, 4a–4g). */
describe("write options", () => {
  let sim: SimulatedApiServer;
  const call = (method: string, path: string, body?: unknown, contentType?: string) =>
    callApi(sim.url, method, path, body, contentType);
  /** the types of the events a pods+podindexes watch from the current version sees while `during` runs */
  const eventsDuring = async (during: () => Promise<unknown>) => {
    const rv = sim.store.resourceVersion;
    const seen: string[] = [];
    const unsubscribe = sim.store.subscribe(ev => seen.push(`${ev.type} ${ev.object.metadata.name}`));
    await during();
    unsubscribe();
    expect(sim.store.resourceVersion, "no resourceVersion consumed").toBe(rv);
    return seen;
  };

  beforeEach(async () => {
    sim = await startApiServer({ crds: [podIndexCrd()] });
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "tx11" } });
  });
  afterEach(() => sim.close());

  it("dryRun=All create answers 201 with the defaulted object and no resourceVersion, stores nothing, sends no event (4a–4d)", async () => {
    const events = await eventsDuring(async () => {
      for (const step of ["4a.", "4c."]) {
        const x = recordedStep(FILE, step);
        const ours = await resend(sim.url, x);
        const recorded = x.response.body as KObject;
        expect(ours.status).toBe(201);
        expect(Object.keys(ours.body.metadata).sort()).toEqual(Object.keys(recorded.metadata).sort());
        expect(ours.body.metadata.resourceVersion).toBeUndefined();
        expect(ours.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      }
    });
    expect(events).toEqual([]);
    const index = (await resend(sim.url, recordedStep(FILE, "4a."))).body;
    expect(index.spec).toEqual((recordedStep(FILE, "4a.").response.body as KObject).spec); // defaults applied
    expect((await resend(sim.url, recordedStep(FILE, "4b."))).status).toBe(404);
    expect((await resend(sim.url, recordedStep(FILE, "4d."))).status).toBe(404);
  });

  it("dryRun=All DELETE answers the usual Success and the object stays (4f, 4g)", async () => {
    await call("POST", "/apis/podindex.dev/v1alpha1/podindexes", {
      apiVersion: "podindex.dev/v1alpha1",
      kind: "PodIndex",
      metadata: { name: "unknown-warn" },
      spec: {},
    });
    const x = recordedStep(FILE, "4f.");
    let ours!: Awaited<ReturnType<typeof resend>>;
    expect(await eventsDuring(async () => (ours = await resend(sim.url, x)))).toEqual([]);
    expect(ours.status).toBe(200);
    expect({ ...ours.body, details: { ...ours.body.details, uid: "" } }).toEqual({
      ...(x.response.body as KObject),
      details: { ...(x.response.body as KObject).details, uid: "" },
    });
    expect((await resend(sim.url, recordedStep(FILE, "4g."))).status).toBe(200);
  });

  it("dryRun=All on update and patch validates and answers the new state, but the stored object keeps its version", async () => {
    const made = await call("POST", "/api/v1/namespaces/tx11/configmaps", {
      metadata: { name: "c" },
      data: { a: "1" },
    });
    const events = await eventsDuring(async () => {
      const patched = await call(
        "PATCH",
        "/api/v1/namespaces/tx11/configmaps/c?dryRun=All",
        { data: { a: "2" } },
        "application/merge-patch+json",
      );
      expect(patched).toMatchObject({ status: 200, body: { data: { a: "2" } } });
      const put = await call("PUT", "/api/v1/namespaces/tx11/configmaps/c?dryRun=All", {
        ...made.body,
        data: { a: "3" },
      });
      expect(put).toMatchObject({ status: 200, body: { data: { a: "3" } } });
      const invalid = await call(
        "PATCH",
        "/apis/podindex.dev/v1alpha1/podindexes/none?dryRun=All",
        { spec: {} },
        "application/merge-patch+json",
      );
      expect(invalid.status).toBe(404);
    });
    expect(events).toEqual([]);
    expect(sim.get("v1", "ConfigMap", "c", "tx11")).toMatchObject({
      data: { a: "1" },
      metadata: { resourceVersion: made.body.metadata.resourceVersion },
    });
  });

  it("dryRun=All still refuses what the write would refuse (a schema violation is the same 422)", async () => {
    const violation = recordedStep(FILE, "3a.");
    const dry = await resend(sim.url, violation, `${violation.request.path}?dryRun=All`);
    expect(dry).toMatchObject({ status: 422, body: violation.response.body as KObject });
  });

  it.each([
    ["4e.", "dryRun=true"],
    ["2g.", "fieldValidation=strict (lower case)"],
  ])("step %s: %s is the recorded 422 about CreateOptions", async step => {
    const x = recordedStep(FILE, step);
    const ours = await resend(sim.url, x);
    expect(ours.status).toBe(422);
    expect(ours.body).toEqual(x.response.body);
  });
});
