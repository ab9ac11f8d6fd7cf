import pino from "pino";
import { describe, expect, it } from "vitest";
import { EventRecorder, coreEvent, type PodIndexEvent } from "./events";

describe("EventRecorder", () => {
  it("emits each change once, not each repetition, and logs instead of throwing when emitting fails", async () => {
    const sent: string[] = [];
    let fail = false;
    const rec = new EventRecorder(
      async (subject, e) => {
        if (fail) throw new Error("apiserver down");
        sent.push(`${subject.name} ${e.type} ${e.reason}`);
      },
      pino({ level: "silent" }),
    );
    rec.start();
    const down: PodIndexEvent = { type: "Warning", reason: "DatabaseUnavailable", message: "connection refused" };
    const up: PodIndexEvent = { type: "Normal", reason: "SinkSynced", message: "mirroring" };
    const pi = { name: "services", uid: "u1" };
    rec.record(pi, down);
    rec.record(pi, down);
    rec.record(pi, up);
    rec.record(pi, down);
    rec.record({ name: "other", uid: "u2" }, down);
    fail = true;
    expect(() => rec.record(pi, up)).not.toThrow();
    await new Promise(r => setImmediate(r));
    expect(sent).toEqual([
      "services Warning DatabaseUnavailable",
      "services Normal SinkSynced",
      "services Warning DatabaseUnavailable",
      "other Warning DatabaseUnavailable",
    ]);
  });

  it("emits only while leading, forgets what it was given meanwhile, and waits at stop for Events being sent", async () => {
    const sent: string[] = [];
    let release = () => {};
    const rec = new EventRecorder(
      async (_subject, e) => {
        await new Promise<void>(resolve => (release = resolve));
        sent.push(e.reason);
      },
      pino({ level: "silent" }),
    );
    const pi = { name: "web", uid: "u1" };
    const invalid: PodIndexEvent = { type: "Warning", reason: "InvalidLabelKey", message: "bad key" };
    rec.record(pi, invalid);
    rec.start();
    // given while not leading and not remembered: the same Event is emitted now
    rec.record(pi, invalid);
    let stopped = false;
    const stopping = rec.stop().then(() => (stopped = true));
    await new Promise(r => setImmediate(r));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(sent).toEqual(["InvalidLabelKey"]);
    rec.record(pi, { type: "Normal", reason: "SinkSynced", message: "mirroring" });
    await new Promise(r => setImmediate(r));
    expect(sent).toEqual(["InvalidLabelKey"]);
  });

  it("builds a core/v1 Event in namespace default about the PodIndex", () => {
    const at = new Date("2026-11-25T05:00:00Z");
    expect(
      coreEvent({ name: "web", uid: "u1" }, { type: "Warning", reason: "InvalidLabelKey", message: "m" }, at),
    ).toMatchObject({
      metadata: { generateName: "web.", namespace: "default" },
      involvedObject: { apiVersion: "podindex.dev/v1alpha1", kind: "PodIndex", name: "web", uid: "u1" },
      type: "Warning",
      reason: "InvalidLabelKey",
      source: { component: "podindex" },
      firstTimestamp: at,
      count: 1,
    });
  });
});
