import { describe, expect, it } from "vitest";
import { PodIndex, type PodIndexSpec } from "../kinds/podindex";
import { compilePodIndex } from "./compile";
import { SpecError } from "./selector";

const podIndex = (spec: PodIndexSpec) =>
  Object.assign(new PodIndex(), { metadata: { name: "web", uid: "u-1", generation: 3 }, spec });
const secretRef = { name: "pg", namespace: "apps" };

/** what compiling an invalid spec throws */
function refusal(spec: PodIndexSpec): SpecError {
  try {
    compilePodIndex(podIndex(spec));
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error("the spec was valid");
}

describe("compilePodIndex", () => {
  it("fills in the defaults: every namespace, every label, no annotation, no forward-auth, no Services", () => {
    const c = compilePodIndex(podIndex({}));
    expect(c).toMatchObject({ name: "web", uid: "u-1", generation: 3, labelKeys: "all", annotationKeys: [] });
    expect(c.namespaces).toBeUndefined();
    expect(c.forwardAuth).toBeUndefined();
    expect(c.sliceSelector).toBeUndefined();
    expect(c.postgres).toBeUndefined();
    expect(c.podSelector({ any: "thing" })).toBe(true);
  });

  it("fills in the PostgreSQL sink's defaults", () => {
    expect(compilePodIndex(podIndex({ services: { postgres: { secretRef } } })).postgres).toEqual({
      secretRef,
      table: "public.server",
      cluster: "default",
      createSchema: true,
    });
  });

  it.each<[PodIndexSpec, string, string]>([
    [{ namespaces: ["Apps"] }, "InvalidNamespace", "spec.namespaces[0]"],
    [{ expose: { labels: ["bad key"] } }, "InvalidExpose", "spec.expose.labels[0]"],
    [{ expose: { annotations: ["*"] } }, "InvalidExpose", "spec.expose.annotations[0]: Forbidden"],
    [{ podSelector: { matchExpressions: [{ key: "app", operator: "Has" }] } }, "InvalidSelector", "spec.podSelector"],
    [
      { forwardAuth: { allow: [{ namespace: "Bad", from: ["*"] }] } },
      "InvalidForwardAuth",
      "spec.forwardAuth.allow[0]",
    ],
    [{ services: { selector: { matchLabels: { "bad key!": "x" } } } }, "InvalidLabelKey", "spec.services.selector"],
    [{ services: { postgres: { secretRef: { name: "", namespace: "apps" } } } }, "InvalidSink", ".secretRef"],
    [{ services: { postgres: { secretRef, table: "a; drop table b" } } }, "InvalidSink", ".table"],
    [{ services: { postgres: { secretRef, cluster: "" } } }, "InvalidSink", ".cluster"],
    [
      { services: { postgres: { secretRef, createSchema: "yes" as unknown as boolean } } },
      "InvalidSink",
      ".createSchema",
    ],
  ])("refuses %j: %s at %s", (spec, reason, at) => {
    const err = refusal(spec);
    expect(err.reason).toBe(reason);
    expect(err.message).toContain(at);
  });
});
