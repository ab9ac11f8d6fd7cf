import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { podIndexCrd } from "../support/cluster";
import { startApiServer, type SimulatedApiServer } from "./server";
import { recordedStep, resend } from "./transcript";

const FILE = "11-kubectl-fidelity-leases.json";

/** CRD schema violations answer as the recorded kube-apiserver v1.32 did (transcript 11, steps 3a–3g). */
describe("CRD schema validation", () => {
  let sim: SimulatedApiServer;
  beforeAll(async () => {
    sim = await startApiServer({ crds: [podIndexCrd()] });
  });
  afterAll(() => sim.close());

  it.each([
    ["3a.", "1001 namespaces: Too many, and the CEL rules not run"],
    ["3b.", "wrong types, named by Go's type names, sorted by field"],
    ["3c.", "a pattern (does not block CEL, so no <nil> cause)"],
    ["3d.", "an enum value"],
    ["3e.", "maxLength and a missing required field"],
    ["3g.", "a duplicate in an x-kubernetes-list-type: set list"],
  ])("step %s %s: the recorded 422 Status, byte for byte", async step => {
    const x = recordedStep(FILE, step);
    const ours = await resend(sim.url, x);
    expect(ours.status).toBe(422);
    expect(ours.body).toEqual(x.response.body);
  });

  it("step 3f: a pattern error is reported with its value (the CEL rule's cause is not simulated)", async () => {
    const x = recordedStep(FILE, "3f.");
    const ours = await resend(sim.url, x);
    expect(ours.status).toBe(422);
    const recorded = (x.response.body as { details: { causes: unknown[] } }).details.causes;
    expect(ours.body.details.causes).toEqual([recorded[0]]);
  });

  it("stores nothing after a 422", async () => {
    await resend(sim.url, recordedStep(FILE, "3a."));
    expect(sim.get("podindex.dev/v1alpha1", "PodIndex", "too-many")).toBeUndefined();
  });
});
