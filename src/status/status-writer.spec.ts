import pino from "pino";
import { describe, expect, it } from "vitest";
import { eventually } from "../../test/support/module";
import { PodIndex, type PodIndexStatus } from "../kinds/podindex";
import { SpecError } from "../spec/selector";
import { StatusWriter } from "./status-writer";
import type { IndexSummary } from "./summary";

function setup(summary: IndexSummary, write?: (status: PodIndexStatus) => Promise<void>, leading = true) {
  const writes: [string, PodIndexStatus][] = [];
  let clock = Date.parse("2026-11-25T01:00:00Z");
  const writer = new StatusWriter({
    log: pino({ level: "silent" }),
    write: async (name, status) => {
      await write?.(status);
      writes.push([name, status]);
    },
    summaries: () => new Map([["web", summary]]),
    degraded: () => undefined,
    ready: () => true,
    now: () => new Date((clock += 1000)),
  });
  writer.intervalMs = 10;
  if (leading) writer.start();
  return { writer, writes };
}
const pi = (generation = 1) => Object.assign(new PodIndex(), { metadata: { name: "web", uid: "u", generation } });
const settle = () => new Promise(r => setTimeout(r, 40));

describe("StatusWriter", () => {
  it("coalesces a burst of changes into one write", async () => {
    const { writer, writes } = setup({ pods: 2, ips: 2, conflicts: 0, namespaces: 1 });
    writer.track(pi());
    for (let i = 0; i < 50; i++) writer.markDirty();
    await settle();
    expect(writes).toHaveLength(1);
    expect(writes[0][1]).toMatchObject({ observedGeneration: 1, pods: 2, ips: 2, conflicts: 0, namespaces: 1 });
  });

  it("writes nothing when only lastSyncTime would change", async () => {
    const { writer, writes } = setup({ pods: 2, ips: 2, conflicts: 0, namespaces: 1 });
    writer.track(pi());
    await settle();
    writer.markDirty();
    await settle();
    expect(writes).toHaveLength(1);
  });

  it("reports an invalid spec as Ready=False with its reason and message", async () => {
    const { writer, writes } = setup({ pods: 0, ips: 0, conflicts: 0, namespaces: 0 });
    writer.track(pi(2), new SpecError("InvalidLabelKey", "spec.podSelector.matchLabels: Invalid value"));
    await settle();
    expect(writes[0][1].conditions).toContainEqual(
      expect.objectContaining({
        type: "Ready",
        status: "False",
        reason: "InvalidLabelKey",
        message: "spec.podSelector.matchLabels: Invalid value",
        observedGeneration: 2,
      }),
    );
  });

  it("writes only while leading, and on becoming leader the whole status of every PodIndex, changed or not", async () => {
    const { writer, writes } = setup({ pods: 1, ips: 1, conflicts: 0, namespaces: 1 }, undefined, false);
    writer.track(pi());
    writer.markDirty();
    await settle();
    expect(writes).toHaveLength(0);
    // another replica's writes are not seen here: a follower still computes the status (GET /v1/indexes)
    expect(writer.snapshot().get("web")).toMatchObject({ pods: 1 });
    writer.start();
    await eventually(() => expect(writes).toHaveLength(1));
    await writer.stop();
    writer.markDirty();
    await settle();
    expect(writes).toHaveLength(1);
    // leading again: the status is written once more though it did not change here (the other leader's may have)
    writer.start();
    await eventually(() => expect(writes).toHaveLength(2));
    expect(writes[1][1]).toMatchObject({ observedGeneration: 1, pods: 1 });
    writer.markDirty();
    await settle();
    expect(writes).toHaveLength(2);
  });

  it("retries a failed first write as leader even when the status looks unchanged", async () => {
    let fail = false;
    let attempts = 0;
    const { writer, writes } = setup({ pods: 1, ips: 1, conflicts: 0, namespaces: 1 }, async () => {
      attempts++;
      if (fail) throw new Error("apiserver down");
    });
    writer.track(pi());
    await eventually(() => expect(writes).toHaveLength(1));
    await writer.stop();
    fail = true;
    writer.start();
    await eventually(() => expect(attempts).toBeGreaterThan(2));
    fail = false;
    await eventually(() => expect(writes).toHaveLength(2));
    expect(writes[1][1]).toMatchObject({ pods: 1 });
  });

  it("writes nothing after stop()", async () => {
    const { writer, writes } = setup({ pods: 1, ips: 1, conflicts: 0, namespaces: 1 });
    await writer.stop();
    writer.track(pi());
    await settle();
    expect(writes).toHaveLength(0);
  });

  it("deletes what it no longer reports: null, in the merge patch, for each key it wrote before", async () => {
    const summary: IndexSummary = {
      pods: 2,
      ips: 2,
      conflicts: 0,
      namespaces: 1,
      services: 1,
      endpoints: 3,
      readyEndpoints: 2,
    };
    const { writer, writes } = setup(summary);
    writer.track(pi());
    await settle();
    expect(writes[0][1]).toMatchObject({ services: 1, endpoints: 3, readyEndpoints: 2 });
    // spec.services removed: the summary has no service counts any more
    delete summary.services;
    delete summary.endpoints;
    delete summary.readyEndpoints;
    writer.track(pi(2));
    await settle();
    expect(writes).toHaveLength(2);
    expect(writes[1][1]).toMatchObject({
      observedGeneration: 2,
      pods: 2,
      services: null,
      endpoints: null,
      readyEndpoints: null,
    });
    writer.markDirty();
    await settle();
    expect(writes).toHaveLength(2);
  });

  it("deletes keys of the status read from the object that it does not report", async () => {
    const { writer, writes } = setup({ pods: 1, ips: 1, conflicts: 0, namespaces: 1 });
    writer.track(Object.assign(pi(), { status: { observedGeneration: 1, pods: 1, services: 4, endpoints: 9 } }));
    await settle();
    expect(writes[0][1]).toMatchObject({ pods: 1, services: null, endpoints: null });
    expect(writes[0][1]).not.toHaveProperty("readyEndpoints");
  });

  it("keeps one write in flight per PodIndex, and the status written last is the latest", async () => {
    const summary: IndexSummary = { pods: 1, ips: 1, conflicts: 0, namespaces: 1 };
    const pending: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const { writer, writes } = setup(summary, async () => {
      most = Math.max(most, ++inFlight);
      await new Promise<void>(resolve => pending.push(resolve));
      inFlight--;
    });
    writer.track(pi());
    await eventually(() => expect(pending).toHaveLength(1));
    // the first write hangs; meanwhile the pods change twice and flushes come due
    summary.pods = 2;
    writer.markDirty();
    await settle();
    summary.pods = 3;
    writer.markDirty();
    await settle();
    expect(pending).toHaveLength(1);
    pending.shift()!();
    await eventually(() => expect(pending).toHaveLength(1));
    pending.shift()!();
    await eventually(() => expect(writes.map(([, st]) => st.pods)).toEqual([1, 3]));
    await settle();
    expect(writes).toHaveLength(2);
    expect(most).toBe(1);
  });
});
