import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { emptyMetrics } from "../../test/support/metrics";
import { Readiness } from "../readiness";
import type { PodIndexList } from "../views/podindex-set";
import { PodIndexResync } from "./podindex-resync";

function setup(list: () => Promise<PodIndexList>) {
  const readiness = new Readiness([]);
  const applied: string[] = [];
  const metrics = emptyMetrics();
  const resync = new PodIndexResync({
    list,
    apply: l => (applied.push(l.resourceVersion), true),
    readiness,
    metrics,
    log: pino({ level: "silent" }),
  });
  readiness.register(resync.readiness);
  return { resync, readiness, applied, metrics };
}

describe("PodIndexResync", () => {
  afterEach(() => void vi.useRealTimers());

  it("says why the first list failed and retries it every 2 s until it succeeds", async () => {
    vi.useFakeTimers();
    let fail = true;
    const { resync, readiness, applied } = setup(async () => {
      if (fail) throw new Error("the PodIndex CRD is not installed");
      return { items: [], resourceVersion: "5" };
    });
    await resync.start();
    expect(readiness.reasons).toEqual({ podindexes: "the PodIndex CRD is not installed; retrying every 2 s" });
    fail = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(applied).toEqual(["5"]);
    expect(readiness.ready).toBe(true);
    await resync.stop();
  });

  it("lists one at a time: resyncs asked for meanwhile make one more list", async () => {
    let n = 0;
    const pending: (() => void)[] = [];
    const { resync, applied, metrics } = setup(
      () => new Promise(resolve => pending.push(() => resolve({ items: [], resourceVersion: String(++n) }))),
    );
    const starting = resync.start();
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    void resync.resync();
    void resync.resync();
    pending.shift()!();
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    pending.shift()!();
    await starting;
    expect(applied).toEqual(["1", "2"]);
    expect(await metrics.registry.metrics()).toContain('podindex_relists_total{kind="podindexes"} 2');
    await resync.stop();
  });
});
