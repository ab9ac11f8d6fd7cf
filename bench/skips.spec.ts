import { describe, expect, it } from "vitest";
import { Skips } from "./skips";

const KiB = 1024;
const GiB = 2 ** 30;

describe("Skips", () => {
  it("skips a contender at sizes larger than one it failed at, and only that contender", () => {
    const s = new Skips();
    expect(s.skip("pepr", 10_000)).toBeUndefined();
    s.failed("pepr", 10_000);
    expect(s.skip("pepr", 100_000)).toBe("not run: not available at 10000 pods");
    expect(s.skip("feed", 100_000)).toBeUndefined();
  });

  it("still runs it at the size it failed at and at smaller ones (BENCH_SIZES in any order)", () => {
    const s = new Skips();
    s.failed("pepr", 100_000);
    expect(s.skip("pepr", 100_000)).toBeUndefined();
    expect(s.skip("pepr", 1000)).toBeUndefined();
    s.failed("pepr", 1000);
    expect(s.skip("pepr", 10_000)).toBe("not run: not available at 1000 pods");
  });

  it("skips a contender whose heap, grown with the pods from the largest smaller size, would pass its limit", () => {
    const s = new Skips();
    s.measured("pepr", 1000, 123 * KiB * 1000, 4 * GiB);
    // 123 KiB a pod at 1k: 1.2 GiB at 10k, within 4 GiB
    expect(s.skip("pepr", 10_000)).toBeUndefined();
    s.measured("pepr", 10_000, 78.4 * KiB * 10_000, 4 * GiB);
    expect(s.skip("pepr", 100_000)).toBe(
      "not run: its heap at 10000 pods (78.4 KiB a pod) would be 7.5 GiB at 100000, past its limit of 4.0 GiB",
    );
    // the informer's 12 GiB limit holds its 40 KiB a pod at 100k
    s.measured("informer", 10_000, 40.3 * KiB * 10_000, 12 * GiB);
    expect(s.skip("informer", 100_000)).toBeUndefined();
    // only smaller sizes count
    expect(s.skip("pepr", 10_000)).toBeUndefined();
  });
});
