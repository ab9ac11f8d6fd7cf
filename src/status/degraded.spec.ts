import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Readiness } from "../readiness";
import { Degraded } from "./degraded";

function setup() {
  let t = 1_000_000;
  const readiness = new Readiness(["pods", "endpointslices"], () => t);
  readiness.maxStalenessMs = 60_000;
  readiness.markSynced("pods");
  readiness.markSynced("endpointslices");
  const logs: string[] = [];
  const log = pino(
    { level: "info" },
    new Writable({ write: (chunk, _e, done) => (logs.push(JSON.parse(String(chunk)).msg), done()) }),
  );
  let changed = 0;
  const degraded = new Degraded({ readiness, log, changed: () => changed++ });
  return { degraded, readiness, logs, advance: (ms: number) => (t += ms), changes: () => changed };
}

describe("Degraded", () => {
  it("says which watches fail until they deliver again, asking for a status write at each change", () => {
    const { degraded, changes } = setup();
    expect(degraded.reason()).toBeUndefined();
    degraded.watchFailed("pods", new Error("connection refused"));
    expect(degraded.reason()).toBe("the pods watch failed (connection refused); it relists and resumes by itself");
    expect(changes()).toBe(1);
    degraded.watchWorks("pods");
    degraded.watchWorks("pods");
    expect(changes()).toBe(2);
    expect(degraded.reason()).toBeUndefined();
  });

  it("says which caches are older than the bound, and whether identity answers are refused", () => {
    const { degraded, readiness, advance } = setup();
    advance(61_000);
    readiness.markFresh("pods");
    expect(degraded.reason()).toBe("the cache of endpointslices is older than PODINDEX_MAX_STALENESS (60 s)");
    advance(61_000);
    expect(degraded.reason()).toBe(
      "the cache of pods, endpointslices is older than PODINDEX_MAX_STALENESS (60 s): " +
        "IP and UID lookups and forward-auth answer 503 Stale",
    );
  });

  it("notices on its check a kind turning stale or fresh without any event, and logs each change once", () => {
    const { degraded, readiness, advance, logs, changes } = setup();
    degraded.check();
    expect(changes()).toBe(0);
    advance(61_000);
    degraded.check();
    expect(changes()).toBe(1);
    degraded.check();
    expect(changes()).toBe(1);
    readiness.markFresh("pods");
    readiness.markFresh("endpointslices");
    degraded.check();
    expect(changes()).toBe(2);
    expect(logs.filter(m => m.startsWith("the apiserver last proved"))).toHaveLength(1);
    expect(logs).toContain("every cache is fresh again");
  });
});
