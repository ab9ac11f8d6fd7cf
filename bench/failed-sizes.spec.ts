import { describe, expect, it } from "vitest";
import { FailedSizes } from "./failed-sizes";

describe("FailedSizes", () => {
  it("skips a contender at sizes larger than one it failed at, and only that contender", () => {
    const f = new FailedSizes();
    expect(f.skip("pepr", 10_000)).toBeUndefined();
    f.failed("pepr", 10_000);
    expect(f.skip("pepr", 100_000)).toBe("not run: not available at 10000 pods");
    expect(f.skip("feed", 100_000)).toBeUndefined();
  });

  it("still runs it at the size it failed at and at smaller ones (BENCH_SIZES in any order)", () => {
    const f = new FailedSizes();
    f.failed("pepr", 100_000);
    expect(f.skip("pepr", 100_000)).toBeUndefined();
    expect(f.skip("pepr", 1000)).toBeUndefined();
    f.failed("pepr", 1000);
    expect(f.skip("pepr", 10_000)).toBe("not run: not available at 1000 pods");
  });
});
