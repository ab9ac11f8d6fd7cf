import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff";

describe("Backoff", () => {
  it("doubles from 0.8 s to a 30 s cap, as client-go's reflector does", () => {
    const b = new Backoff({ now: () => 0, random: () => 0 });
    const waits = Array.from({ length: 9 }, () => b.next());
    expect(waits).toEqual([800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000]);
  });

  it("shortens each wait by up to a quarter at random (jitter), never lengthens it", () => {
    const high = new Backoff({ now: () => 0, random: () => 0.999 });
    expect(high.next()).toBe(600);
    expect(high.next()).toBe(1200);
    const mid = new Backoff({ now: () => 0, random: () => 0.5 });
    expect(mid.next()).toBe(700);
  });

  it("starts over after a healthy period, not before", () => {
    let now = 0;
    const b = new Backoff({ now: () => now, random: () => 0, resetAfterMs: 120_000 });
    b.next();
    b.next();
    now += 120_000;
    expect(b.next()).toBe(3200);
    now += 120_001;
    expect(b.next()).toBe(800);
  });

  it("waits at least what the server asked for (Retry-After), and still grows", () => {
    const b = new Backoff({ now: () => 0, random: () => 0 });
    expect(b.next(5000)).toBe(5000);
    expect(b.next(0)).toBe(1600);
  });
});
