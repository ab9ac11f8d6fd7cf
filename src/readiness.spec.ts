import { describe, expect, it } from "vitest";
import { IDENTITY_KINDS, Readiness } from "./readiness";

describe("Readiness", () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it("is ready once every kind's initial list is in, and says what it still waits for", () => {
    const r = new Readiness(["pods", "podindexes"]);
    r.explain("podindexes", "the PodIndex CRD is not installed");
    expect(r.ready).toBe(false);
    expect(r.waitingFor).toEqual(["podindexes", "pods"]);
    expect(r.reasons).toEqual({ podindexes: "the PodIndex CRD is not installed" });
    r.markSynced("pods");
    r.markSynced("podindexes");
    expect(r.ready).toBe(true);
    expect(r.reasons).toEqual({});
  });

  it("waits also for a kind registered later (a runnable's), and refuses one registered twice", () => {
    const r = new Readiness([]);
    expect(r.ready).toBe(true);
    r.register("pods");
    r.register("endpointslices");
    expect(r.ready).toBe(false);
    expect(r.waitingFor).toEqual(["endpointslices", "pods"]);
    r.markSynced("pods");
    expect(r.waitingFor).toEqual(["endpointslices"]);
    expect(() => r.register("pods")).toThrow("registered twice");
    r.markSynced("endpointslices");
    expect(r.ready).toBe(true);
    expect([...r.stalenessByKind().keys()]).toEqual(["pods", "endpointslices"]);
  });

  it("measures staleness per kind from the last proof of freshness, without any timer", () => {
    const c = clock();
    const r = new Readiness(["pods", "endpointslices"], c.now);
    expect(r.staleness("pods")).toBeUndefined();
    r.markSynced("pods");
    c.advance(40_000);
    r.markSynced("endpointslices");
    c.advance(20_000);
    expect(r.staleness("pods")).toBe(60_000);
    expect(r.staleness("endpointslices")).toBe(20_000);
    r.markFresh("pods");
    expect(r.staleness("pods")).toBe(0);
    expect(r.stalenessByKind()).toEqual(
      new Map([
        ["pods", 0],
        ["endpointslices", 20_000],
      ]),
    );
  });

  it("has no bound until one is set, then names each kind past it and how stale it is", () => {
    const c = clock();
    const r = new Readiness(["pods", "podindexes", "endpointslices"], c.now);
    for (const kind of ["pods", "podindexes", "endpointslices"]) r.markSynced(kind);
    c.advance(3_600_000);
    expect(r.stale()).toEqual([]);
    expect(r.staleReason()).toBeUndefined();
    r.maxStalenessMs = 300_000;
    expect(r.stale().map(s => s.kind)).toEqual(["pods", "podindexes", "endpointslices"]);
    r.markFresh("pods");
    r.markFresh("endpointslices");
    c.advance(299_000);
    r.markFresh("podindexes");
    c.advance(1_000);
    expect(r.staleReason()).toBeUndefined(); // exactly at the bound is still fresh enough
    expect(r.fresh(IDENTITY_KINDS)).toBe(true);
    c.advance(1);
    expect(r.fresh(IDENTITY_KINDS)).toBe(false);
    expect(r.fresh(["podindexes"])).toBe(true);
    expect(r.stale()).toEqual([
      { kind: "pods", seconds: 301 },
      { kind: "endpointslices", seconds: 301 },
    ]);
    expect(r.stale(IDENTITY_KINDS)).toEqual([{ kind: "pods", seconds: 301 }]);
    expect(r.staleReason(IDENTITY_KINDS)).toBe(
      "the apiserver last proved the cache current 301 s ago for pods, longer than PODINDEX_MAX_STALENESS (300 s) allows",
    );
    r.markFresh("pods");
    expect(r.staleReason(IDENTITY_KINDS)).toBeUndefined();
    expect(r.fresh(IDENTITY_KINDS)).toBe(true);
    expect(r.stale()).toEqual([{ kind: "endpointslices", seconds: 301 }]);
  });

  it("does not call a kind stale before its first list: that is not-ready, reported as such", () => {
    const c = clock();
    const r = new Readiness(["pods", "podindexes"], c.now);
    r.maxStalenessMs = 1_000;
    c.advance(10_000);
    expect(r.stale()).toEqual([]);
    expect(r.fresh(["pods", "podindexes"])).toBe(true);
    expect(r.ready).toBe(false);
  });
});
