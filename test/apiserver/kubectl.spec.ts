import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster } from "../support/cluster";
import { kubectl, kubectlInstalled } from "./kubectl";
import type { KObject, SimulatedApiServer } from "./server";
import { recordedStep, resend } from "./transcript";

const FILE = "11-kubectl-fidelity-leases.json";
const typo = (name: string) => `apiVersion: podindex.dev/v1alpha1
kind: PodIndex
metadata: { name: ${name} }
spec:
  namespaces: [default]
  podSelector: { matchLabelz: { app: web } }
`;

/** The real kubectl against the simulator, as a user runs it (no flags), checked against transcript 11. */
describe.skipIf(!kubectlInstalled)("kubectl against the simulated apiserver", () => {
  let sim: SimulatedApiServer;
  beforeAll(async () => {
    sim = await startCluster();
  });
  afterAll(() => sim.close());

  // the example PodIndexes (examples/ also holds a Grafana dashboard and Prometheus rules)
  const examples = ["podindex.yaml", "podindex-fission.yaml", "podindex-mirror.yaml"].flatMap(f => [
    "-f",
    `examples/${f}`,
  ]);

  it("applies crds/ and the example PodIndexes without --validate=false, twice (the second time: unchanged)", async () => {
    expect(await kubectl(sim, ["apply", "-f", "crds/"])).toMatchObject({ code: 0 });
    const first = await kubectl(sim, ["apply", ...examples]);
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toContain("podindex.podindex.dev/fission created");
    const again = await kubectl(sim, ["apply", ...examples]);
    expect(again).toMatchObject({ code: 0, stderr: "" });
    expect(again.stdout).not.toMatch(/created|configured/);
  });

  it("refuses a typo in a PodIndex with the field named, as a cluster's default strict validation does", async () => {
    const refused = await kubectl(sim, ["apply", "-f", "-"], typo("typo"));
    const recorded = (recordedStep(FILE, "2a.").response.body as KObject).message;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`Error from server (BadRequest): error when creating "STDIN": ${recorded}\n`);
    expect(sim.get("podindex.dev/v1alpha1", "PodIndex", "typo")).toBeUndefined();
  });

  it("warns with --validate=warn and prunes silently with --validate=false", async () => {
    const warned = await kubectl(sim, ["apply", "--validate=warn", "-f", "-"], typo("typo-warn"));
    expect(warned).toMatchObject({ code: 0, stderr: 'Warning: unknown field "spec.podSelector.matchLabelz"\n' });
    const ignored = await kubectl(sim, ["apply", "--validate=false", "-f", "-"], typo("typo-ignore"));
    expect(ignored).toMatchObject({ code: 0, stderr: "" });
    for (const name of ["typo-warn", "typo-ignore"])
      expect(sim.get("podindex.dev/v1alpha1", "PodIndex", name)!.spec.podSelector).toEqual({});
  });

  it("--dry-run=server creates nothing", async () => {
    const dry = await kubectl(sim, ["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server"]);
    expect(dry).toMatchObject({ code: 0, stdout: "configmap/dry created (server dry run)\n" });
    expect(sim.get("v1", "ConfigMap", "dry", "default")).toBeUndefined();
  });

  it("describe podindex shows its Events, selected by involvedObject fields (6c–6f)", async () => {
    const index = sim.create({
      ...(recordedStep(FILE, "6a.").request.body as KObject),
    }) as KObject;
    const about = (step: string) => {
      const event = structuredClone(recordedStep(FILE, step).request.body as KObject);
      if (event.involvedObject.kind === "PodIndex") event.involvedObject.uid = index.metadata.uid;
      return event;
    };
    sim.create(about("6c."));
    sim.create(about("6d.")); // a Service with the same name: not about the PodIndex
    const x = recordedStep(FILE, "6f.");
    const uid = /involvedObject\.uid%3D([^%&]+)/.exec(x.request.path)![1];
    const listed = await resend(sim.url, x, x.request.path.replace(uid, index.metadata.uid));
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((e: KObject) => e.metadata.name)).toEqual(
      (x.response.body as KObject).items.map((e: KObject) => e.metadata.name),
    );
    const described = await kubectl(sim, ["describe", "podindex", "rec-index"]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(
      /Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n[\s\S]*Normal\s+Synced\s+.*podindex\s+indexed 2 pods in 1 namespace/,
    );
    expect(described.stdout).not.toContain("not about the PodIndex");
  });
});
