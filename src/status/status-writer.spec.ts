import pino from "pino";
import { describe, expect, it } from "vitest";
import { PodIndex, type PodIndexStatus } from "../kinds/podindex";
import { SpecError } from "../views/selector";
import { StatusWriter } from "./status-writer";
import type { IndexSummary } from "./summary";

function setup(summary: IndexSummary) {
  const writes: [string, PodIndexStatus][] = [];
  let clock = Date.parse("2026-11-25T01:00:00Z");
  const writer = new StatusWriter({
    log: pino({ level: "silent" }),
    write: async (name, status) => void writes.push([name, status]),
    summaries: () => new Map([["web", summary]]),
    degraded: () => undefined,
    ready: () => true,
    now: () => new Date((clock += 1000)),
  });
  writer.intervalMs = 10;
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

  it("writes nothing after stop()", async () => {
    const { writer, writes } = setup({ pods: 1, ips: 1, conflicts: 0, namespaces: 1 });
    await writer.stop();
    writer.track(pi());
    await settle();
    expect(writes).toHaveLength(0);
  });
});
