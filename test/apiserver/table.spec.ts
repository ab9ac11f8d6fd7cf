import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { podIndexCrd } from "../support/cluster";
import { eventually } from "../support/module";
import { kubectl, kubectlInstalled, kubectlWatch } from "./kubectl";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";
import { humanDuration } from "./table";
import { readWatch, recordedStep, resend } from "./transcript";

const FILE = "11-kubectl-fidelity-leases.json";

/** Tables as kube-apiserver v1.32 prints them (transcript 11, steps 7a–7l), over HTTP and through kubectl. */
describe("Tables", () => {
  let sim: SimulatedApiServer;
  const recorded = (step: string) => recordedStep(FILE, step).response.body as KObject;

  beforeAll(async () => {
    sim = await startApiServer({ crds: [podIndexCrd()] });
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "tx11" } });
    // 7a–7e, with the node set at create (the simulator has no binding subresource) and the
    // container's last termination 60 s ago, as it was when the recording listed the pods
    const web = structuredClone(recordedStep(FILE, "7a.").request.body as KObject);
    Object.assign(web.metadata, { namespace: "tx11" });
    web.spec.nodeName = "node-1";
    sim.create(web);
    const status = structuredClone(recordedStep(FILE, "7d.").request.body as KObject);
    status.status.containerStatuses[0].lastState.terminated.finishedAt = new Date(Date.now() - 60_000).toISOString();
    await fetch(`${sim.url}/api/v1/namespaces/tx11/pods/web-1/status`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify(status),
    });
    sim.create({
      ...(recordedStep(FILE, "7e.").request.body as KObject),
      metadata: { name: "pending-1", namespace: "tx11", labels: { app: "web" } },
    });
    sim.create(recordedStep(FILE, "6a.").request.body as KObject); // PodIndex rec-index
    await resend(sim.url, recordedStep(FILE, "6b.")); // its status
  });
  afterAll(() => sim.close());

  it("lists pods with the recorded columns and cells: READY from ready containers, restarts with their age, IP and node", async () => {
    const ours = await resend(sim.url, recordedStep(FILE, "7f."));
    expect(ours.body.columnDefinitions).toEqual(recorded("7f.").columnDefinitions);
    const cells = (t: KObject) => t.rows.map((r: KObject) => [...r.cells.slice(0, 3), ...r.cells.slice(5)]);
    expect(cells(ours.body)).toEqual(cells(recorded("7f.")));
    expect(ours.body.rows.map((r: KObject) => r.cells[3])).toEqual(["0", expect.stringMatching(/^2 \(\d+s ago\)$/)]);
    const one = await resend(sim.url, recordedStep(FILE, "7g."));
    expect(Object.keys(one.body.metadata)).toEqual(["resourceVersion"]);
    expect(cells(one.body)).toEqual(cells(recorded("7g.")));
  });

  it("prints ages as apimachinery's HumanDuration", () => {
    const s = 1000;
    expect(
      [59, 125, 600, 10_000, 7 * 3600 + 60, 20 * 3600, 3 * 86400 + 4 * 3600, 40 * 86400, 800 * 86400].map(n =>
        humanDuration(n * s),
      ),
    ).toEqual(["59s", "2m5s", "10m", "166m", "7h1m", "20h", "3d4h", "40d", "2y70d"]);
  });

  it("answers a Table watch with one-row Tables, DELETED without column definitions (7h–7l)", async () => {
    const list = await resend(sim.url, recordedStep(FILE, "7h."));
    expect(list.body.columnDefinitions).toEqual(recorded("7h.").columnDefinitions);
    const abort = new AbortController();
    const res = await fetch(
      `${sim.url}/apis/podindex.dev/v1alpha1/podindexes?resourceVersion=${list.body.metadata.resourceVersion}&watch=true`,
      {
        headers: recordedStep(FILE, "7i.").request.headers,
        signal: abort.signal,
      },
    );
    const events: KObject[] = [];
    const reading = readWatch(res, events);
    for (const step of ["7j.", "7k.", "7l."]) await resend(sim.url, recordedStep(FILE, step));
    await eventually(() => expect(events).toHaveLength(3));
    abort.abort();
    await reading;
    const want = (recordedStep(FILE, "7i.").response.events ?? []).map(e => e.event);
    const shape = (e: KObject) => ({
      type: e.type,
      kind: e.object.kind,
      columns: e.object.columnDefinitions,
      rows: e.object.rows.map((r: KObject) => [r.cells.filter((_: unknown, i: number) => i !== 5), r.object.kind]),
    });
    expect(events.map(shape)).toEqual(want.map(shape));
  });

  it.skipIf(!kubectlInstalled)("kubectl get pods [-o wide] prints a cluster's columns", async () => {
    const plain = await kubectl(sim, ["get", "pods", "-n", "tx11"]);
    expect(plain.stdout).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    expect(plain.stdout).toMatch(/\nweb-1\s+1\/1\s+Running\s+2 \(\d+s ago\)\s+\d+s\n/);
    const wide = await kubectl(sim, ["get", "pods", "-n", "tx11", "-o", "wide"]);
    expect(wide.stdout).toMatch(
      /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\n/,
    );
    expect(wide.stdout).toMatch(/\npending-1\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>\n/);
    expect(wide.stdout).toMatch(
      /\nweb-1\s+1\/1\s+Running\s+2 \(\d+s ago\)\s+\d+s\s+10\.244\.1\.11\s+node-1\s+<none>\s+<none>\n/,
    );
  });

  it.skipIf(!kubectlInstalled)("kubectl get pidx -w prints later rows in the same columns as the first", async () => {
    const w = kubectlWatch(sim, ["get", "pidx", "-w"]);
    try {
      await eventually(() => expect(w.output()).toMatch(/^NAME\s+PODS\s+IPS\s+CONFLICTS\s+READY\s+AGE\n/), 10_000);
      await resend(sim.url, recordedStep(FILE, "7j.")); // rec-index: pods 3, ips 2, conflicts 0, Ready True
      await eventually(() => expect(w.output()).toMatch(/\nrec-index\s+3\s+2\s+0\s+True\s+\d+s\n/), 10_000);
    } finally {
      await w.stop();
    }
  });
});
