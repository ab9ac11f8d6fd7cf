import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { podIndexCrd } from "../support/cluster";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";
import { recordedStep, resend } from "./transcript";

const FILE = "11-kubectl-fidelity-leases.json";

/** OpenAPI v3 documents against transcript 11 (steps 1a–1c). */
describe("OpenAPI v3", () => {
  let sim: SimulatedApiServer;
  beforeAll(async () => {
    sim = await startApiServer({ crds: [podIndexCrd()] });
  });
  afterAll(() => sim.close());

  it("serves the index as upstream does: text/plain, no-cache, a hashed URL per group-version", async () => {
    const x = recordedStep(FILE, "1a.");
    const ours = await resend(sim.url, x);
    expect(ours.status).toBe(200);
    expect(ours.headers.get("content-type")).toBe(x.response.headers!["content-type"]);
    expect(ours.headers.get("cache-control")).toBe("no-cache, private");
    const recorded = (x.response.body as KObject).paths as Record<string, { serverRelativeURL: string }>;
    for (const key of ["api/v1", "apis/podindex.dev/v1alpha1", "apis/discovery.k8s.io/v1"]) {
      expect(ours.body.paths[key].serverRelativeURL).toMatch(/^\/openapi\/v3\/[^?]+\?hash=[0-9A-F]{128}$/);
      expect(ours.body.paths[key].serverRelativeURL.split("?")[0]).toBe(recorded[key].serverRelativeURL.split("?")[0]);
    }
  });

  it("serves the podindex.dev/v1alpha1 document with the recorded paths, operations and query parameters", async () => {
    const index = (await resend(sim.url, recordedStep(FILE, "1a."))).body;
    const x = recordedStep(FILE, "1b.");
    const ours = await resend(sim.url, x, index.paths["apis/podindex.dev/v1alpha1"].serverRelativeURL);
    expect(ours.status).toBe(200);
    expect(ours.headers.get("cache-control")).toBe("public, immutable");
    expect(ours.headers.get("etag")).toBe(
      `"${index.paths["apis/podindex.dev/v1alpha1"].serverRelativeURL.split("hash=")[1]}"`,
    );
    const recorded = x.response.body as KObject;
    expect(Object.keys(ours.body)).toEqual(Object.keys(recorded));
    expect(ours.body.info).toEqual(recorded.info);
    expect(Object.keys(ours.body.paths).sort()).toEqual(Object.keys(recorded.paths).sort());
    // what kubectl reads: each operation's query parameters and its group-version-kind
    const ops = (doc: KObject) =>
      Object.fromEntries(
        Object.entries(doc.paths as Record<string, KObject>).flatMap(([path, item]) =>
          Object.entries(item)
            .filter(([verb]) => verb !== "parameters")
            .map(([verb, op]) => [
              `${verb} ${path}`,
              {
                gvk: op["x-kubernetes-group-version-kind"],
                params: op.parameters
                  .map((p: KObject) => p.name)
                  .filter((n: string) => n !== "ignoreStoreReadErrorWithClusterBreakingPotential"),
              },
            ]),
        ),
      );
    expect(ops(ours.body)).toEqual(ops(recorded));
    const schema = ours.body.components.schemas["dev.podindex.v1alpha1.PodIndex"];
    const recordedSchema = recorded.components.schemas["dev.podindex.v1alpha1.PodIndex"];
    expect(schema["x-kubernetes-group-version-kind"]).toEqual(recordedSchema["x-kubernetes-group-version-kind"]);
    // the CRD's own schema (the CRD has changed since the recording, so not the recorded one)
    const crd = podIndexCrd() as KObject;
    expect(schema.properties.spec).toEqual(crd.spec.versions[0].schema.openAPIV3Schema.properties.spec);
  });

  it("answers the document without its hash uncached (1c), and an unknown group-version with a plain 404", async () => {
    const ours = await resend(sim.url, recordedStep(FILE, "1c."));
    expect(ours.status).toBe(200);
    expect(ours.headers.get("cache-control")).toBe("no-cache, private");
    const missing = await fetch(`${sim.url}/openapi/v3/apis/nothing.example/v1`);
    expect([missing.status, await missing.text()]).toEqual([404, "404 page not found\n"]);
  });
});
