import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { podIndexCrd } from "../support/cluster";
import { kubectl, kubectlInstalled } from "./kubectl";
import { startApiServer, type KObject, type SimulatedApiServer } from "./server";
import { recordedStep, resend } from "./transcript";

const FILE = "11-kubectl-fidelity-leases.json";

/** Protobuf request bodies, against transcript 11 (steps 5a–5k) and through kubectl create. */
describe("protobuf request bodies", () => {
  let sim: SimulatedApiServer;
  beforeEach(async () => {
    sim = await startApiServer({ crds: [podIndexCrd()] });
  });
  afterEach(() => sim.close());

  it("decodes the exact bytes kubectl sent for a Namespace and a Secret (5d, 5f), answering JSON", async () => {
    const ns = await resend(sim.url, recordedStep(FILE, "5d."));
    expect(ns.status).toBe(201);
    expect(ns.headers.get("content-type")).toBe("application/json");
    expect(sim.get("v1", "Namespace", "rec-proto")).toMatchObject({ metadata: { name: "rec-proto" } });
    const secret = await resend(sim.url, recordedStep(FILE, "5f."));
    expect(secret.status).toBe(201);
    expect(sim.get("v1", "Secret", "rec-s", "rec-proto")).toMatchObject({
      metadata: { name: "rec-s", namespace: "rec-proto" },
      data: { a: Buffer.from("b").toString("base64") },
    });
    // replayed once more, as the recording did: 409 AlreadyExists, byte for byte
    for (const step of ["5d.", "5f."]) {
      const again = await resend(sim.url, recordedStep(FILE, step));
      expect([again.status, again.body]).toEqual([409, recordedStep(FILE, step).response.body]);
    }
  });

  it.each([
    ["5c.", "a JSON body labelled protobuf"],
    ["5e.", "protobuf bytes labelled JSON"],
  ])("answers %s (%s) with the recorded 400", async step => {
    const x = recordedStep(FILE, step);
    const ours = await resend(sim.url, x);
    expect([ours.status, ours.body]).toEqual([400, x.response.body]);
  });

  it("accepts a YAML body (5k) and refuses protobuf for a custom resource with a 415 (upstream drops the connection, 5j)", async () => {
    expect((await resend(sim.url, recordedStep(FILE, "5k."))).status).toBe(201);
    const cr = await resend(sim.url, recordedStep(FILE, "5j."));
    expect(cr).toMatchObject({ status: 415, body: { reason: "UnsupportedMediaType" } });
  });

  it.skipIf(!kubectlInstalled)(
    "kubectl create namespace, secret generic (the README's line) and configmap work",
    async () => {
      expect(await kubectl(sim, ["create", "namespace", "podindex-system"])).toMatchObject({
        code: 0,
        stdout: "namespace/podindex-system created\n",
      });
      const secret = await kubectl(sim, [
        "-n",
        "podindex-system",
        "create",
        "secret",
        "generic",
        "endpoints-db",
        "--from-literal=PGHOST=db.example",
        "--from-literal=PGUSER=podindex",
        "--from-literal=PGPASSWORD=…",
        "--from-literal=PGDATABASE=infra",
        "--from-literal=PGSSLMODE=verify-full",
      ]);
      expect(secret).toMatchObject({ code: 0, stdout: "secret/endpoints-db created\n" });
      const stored = sim.get("v1", "Secret", "endpoints-db", "podindex-system") as KObject;
      expect(
        Object.fromEntries(
          Object.entries(stored.data).map(([k, v]) => [k, Buffer.from(String(v), "base64").toString()]),
        ),
      ).toEqual({
        PGHOST: "db.example",
        PGUSER: "podindex",
        PGPASSWORD: "…",
        PGDATABASE: "infra",
        PGSSLMODE: "verify-full",
      });
      expect(stored.type).toBe("Opaque");
      const cm = await kubectl(sim, ["create", "configmap", "c", "--from-literal=k=v", "-n", "podindex-system"]);
      expect(cm).toMatchObject({ code: 0 });
      expect(sim.get("v1", "ConfigMap", "c", "podindex-system")).toMatchObject({ data: { k: "v" } });
      expect(sim.requests.filter(r => r.method === "POST").map(r => r.contentType)).toEqual(
        Array(3).fill("application/vnd.kubernetes.protobuf"),
      );
    },
  );
});
