import { describe, expect, it } from "vitest";
import { setCondition } from "./conditions";

describe("setCondition", () => {
  const ready = (status: "True" | "False", reason: string) => ({
    type: "Ready",
    status,
    reason,
    message: reason,
    observedGeneration: 1,
  });

  it("moves lastTransitionTime only when the status flips", () => {
    let c = setCondition([], ready("True", "Serving"), "t1");
    c = setCondition(c, { ...ready("True", "Serving"), message: "serving 3 pods" }, "t2");
    expect(c).toEqual([{ ...ready("True", "Serving"), message: "serving 3 pods", lastTransitionTime: "t1" }]);
    c = setCondition(c, ready("False", "InvalidSelector"), "t3");
    expect(c[0]).toMatchObject({ status: "False", reason: "InvalidSelector", lastTransitionTime: "t3" });
  });

  it("keeps other conditions, sorted by type", () => {
    const c = setCondition(
      setCondition([], ready("True", "Serving"), "t1"),
      { type: "Degraded", status: "False", reason: "WatchHealthy", message: "", observedGeneration: 1 },
      "t1",
    );
    expect(c.map(x => x.type)).toEqual(["Degraded", "Ready"]);
  });
});
