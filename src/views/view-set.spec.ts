import { describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { PodCache } from "../cache/pod-cache";
import { PodIndex, type PodIndexSpec } from "../kinds/podindex";
import { SpecError } from "../spec/selector";
import { PodIndexView } from "./view";
import { ViewSet } from "./view-set";

const podIndex = (name: string, spec: PodIndexSpec) =>
  Object.assign(new PodIndex(), { metadata: { name, uid: `uid-${name}`, generation: 1 }, spec });
const view = (name: string, spec: PodIndexSpec = {}) => PodIndexView.fromResource(podIndex(name, spec));
/** what applying an invalid PodIndex throws */
const specError = (spec: PodIndexSpec): SpecError => {
  try {
    view("broken", spec);
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error("the spec was valid");
};
const bad = { podSelector: { matchLabels: { "not a key!": "x" } } } as PodIndexSpec;

describe("ViewSet", () => {
  const pod = new PodCache({ keepAnnotation: () => false }).upsert(makePod({ namespace: "apps" }))!;

  it("serves a pod when some view selects it, listing views by name", () => {
    const views = new ViewSet();
    views.set(view("b", { namespaces: ["other"] }));
    views.set(view("a", { namespaces: ["apps"] }));
    expect(views.list().map(v => v.name)).toEqual(["a", "b"]);
    expect(views.servedBy(pod).map(v => v.name)).toEqual(["a"]);
    expect(views.isServed(pod)).toBe(true);
  });

  it("remembers why a PodIndex that exists is not served, and stops serving it", () => {
    const views = new ViewSet();
    views.set(view("broken", { namespaces: ["apps"] }));
    const err = specError(bad);
    views.refuse("broken", err.message);
    expect(views.get("broken")).toBeUndefined();
    expect(views.isServed(pod)).toBe(false);
    expect(views.refusal("broken")).toBe(err.message);
    expect(views.refusal("broken")).toMatch(/^spec\.podSelector\.matchLabels.*Invalid value/);
    expect(views.refusal("never-heard-of")).toBeUndefined();
  });

  it("forgets the refusal once the PodIndex is fixed or deleted", () => {
    const views = new ViewSet();
    views.refuse("broken", "bad spec");
    views.set(view("broken"));
    expect(views.refusal("broken")).toBeUndefined();
    expect(views.get("broken")).toBeDefined();

    views.refuse("broken", "bad again");
    expect(views.delete("broken")).toBe(false); // it had no view any more
    expect(views.refusal("broken")).toBeUndefined();
  });
});
