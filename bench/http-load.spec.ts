import { describe, expect, it } from "vitest";
import { histogramQuantile, type Buckets } from "./http-load";

describe("histogramQuantile", () => {
  const start: Buckets = [
    [0.001, 50],
    [0.01, 60],
    [0.1, 60],
    [Infinity, 61],
  ];

  it("takes the quantile of what the histogram gained between two scrapes, within its bucket", () => {
    // gained: 90 samples ≤ 1 ms, 8 in (1, 10] ms, 2 in (10, 100] ms
    const end: Buckets = [
      [0.001, 140],
      [0.01, 158],
      [0.1, 160],
      [Infinity, 161], // nothing past 100 ms was gained
    ];
    expect(histogramQuantile(start, end, 0.5)).toBeCloseTo(0.001 * (50 / 90)); // rank 50 of 90 in [0, 1 ms]
    expect(histogramQuantile(start, end, 0.95)).toBeCloseTo(0.001 + 0.009 * (5 / 8)); // rank 95: 5th of 8 in (1, 10]
    expect(histogramQuantile(start, end, 0.99)).toBeCloseTo(0.01 + 0.09 * (1 / 2)); // rank 99: 1st of 2 in (10, 100]
  });

  it("reads a quantile past the last finite bound as that bound, and nothing gained as NaN", () => {
    const end: Buckets = [
      [0.001, 50],
      [0.01, 60],
      [0.1, 60],
      [Infinity, 71], // ten samples over 100 ms
    ];
    expect(histogramQuantile(start, end, 0.99)).toBe(0.1);
    expect(histogramQuantile(start, start, 0.99)).toBeNaN();
  });
});
