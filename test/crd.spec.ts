import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedApiServer } from "./apiserver/server";
import { startCluster } from "./support/cluster";

/** What crds/podindex.yaml's schema rejects and defaults, as an apiserver applies it. */
describe("the PodIndex CRD schema", () => {
  let sim: SimulatedApiServer;
  const create = async (name: string, spec: unknown, query = "") => {
    const res = await fetch(`${sim.url}/apis/podindex.dev/v1alpha1/podindexes${query}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "podindex.dev/v1alpha1", kind: "PodIndex", metadata: { name }, spec }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
    return { status: res.status, warning: res.headers.get("warning"), body: (await res.json()) as any };
  };

  beforeAll(async () => {
    sim = await startCluster();
  });
  afterAll(() => sim.close());

  it("defaults expose to every label and no annotation", async () => {
    const res = await create("defaults", { namespaces: ["apps"] });
    expect(res.status).toBe(201);
    expect(res.body.spec.expose).toEqual({ labels: ["*"], annotations: [] });
  });

  it("keeps a forwardAuth policy, defaulting sameNamespace to true", async () => {
    const forwardAuth = {
      allow: [{ namespace: "functions", from: ["apps", "*"] }],
      callerSelector: { matchLabels: { "podindex.dev/caller": "true" } },
      target: {
        patterns: [{ header: "X-Forwarded-Uri", regex: "^/fission-function/(?<name>[^/?]+)", namespace: "default" }],
      },
    };
    const res = await create("fa", { forwardAuth });
    expect(res.status).toBe(201);
    expect(res.body.spec.forwardAuth).toEqual({ sameNamespace: true, ...forwardAuth });
  });

  it("defaults the PostgreSQL mirror's table and cluster name as the observer tool does, creating the table", async () => {
    const res = await create("mirror", { services: { postgres: { secretRef: { name: "db", namespace: "ops" } } } });
    expect(res.status).toBe(201);
    expect(res.body.spec.services.postgres).toEqual({
      secretRef: { name: "db", namespace: "ops" },
      table: "public.server",
      cluster: "default",
      createSchema: true,
    });
  });

  it("keeps createSchema: false (a pre-created table written with DML only)", async () => {
    const postgres = { secretRef: { name: "db", namespace: "ops" }, createSchema: false };
    const res = await create("mirror-dml", { services: { postgres } });
    expect(res.status).toBe(201);
    expect(res.body.spec.services.postgres).toMatchObject({ createSchema: false });
  });

  it.each([
    [
      "a target pattern on another header",
      { forwardAuth: { target: { patterns: [{ header: "Host", regex: "x" }] } } },
      "spec.forwardAuth.target.patterns[0].header",
      "FieldValueNotSupported",
    ],
    [
      "a grant without caller namespaces",
      { forwardAuth: { allow: [{ namespace: "functions" }] } },
      "spec.forwardAuth.allow[0].from",
      "FieldValueRequired",
    ],
    [
      "a hostile PostgreSQL table name",
      { services: { postgres: { secretRef: { name: "db", namespace: "ops" }, table: "x; drop table y" } } },
      "spec.services.postgres.table",
      "FieldValueInvalid",
    ],
    [
      "a createSchema that is not a boolean",
      { services: { postgres: { secretRef: { name: "db", namespace: "ops" }, createSchema: "no" } } },
      "spec.services.postgres.createSchema",
      "FieldValueTypeInvalid",
    ],
    [
      "a PostgreSQL mirror without its Secret",
      { services: { postgres: { table: "public.server" } } },
      "spec.services.postgres.secretRef",
      "FieldValueRequired",
    ],
    [
      "an unknown selector operator",
      { podSelector: { matchExpressions: [{ key: "app", operator: "Has" }] } },
      "spec.podSelector.matchExpressions[0].operator",
      "FieldValueNotSupported",
    ],
    ["a malformed namespace name", { namespaces: ["Bad_NS"] }, "spec.namespaces[0]", "FieldValueInvalid"],
    ["namespaces that are not a list", { namespaces: "apps" }, "spec.namespaces", "FieldValueTypeInvalid"],
  ])("rejects %s with 422 naming the field", async (_what, spec, field, reason) => {
    const res = await create("bad", spec);
    expect(res.status).toBe(422);
    expect(res.body.details.causes).toContainEqual(expect.objectContaining({ field, reason }));
  });

  it("prunes an unknown field with a warning, and refuses it with fieldValidation=Strict (as kubectl sends)", async () => {
    const pruned = await create("pruned", { namespaces: ["apps"], colour: "blue" });
    expect(pruned.status).toBe(201);
    expect(pruned.warning).toBe('299 - "unknown field \\"spec.colour\\""');
    expect(pruned.body.spec.colour).toBeUndefined();
    expect((await create("strict", { colour: "blue" }, "?fieldValidation=Strict")).status).toBe(400);
  });
});
