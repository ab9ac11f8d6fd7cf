import pino from "pino";
import { describe, expect, it } from "vitest";
import { FlipLeadership } from "../../test/support/leadership";
import { AlwaysLeader } from "./leadership";
import { Manager } from "./manager";
import type { Runnable } from "./runnable";

/** A runnable that logs its starts and stops; `gate` holds its start until released. */
function runnable(log: string[], name: string, more: Partial<Runnable> & { gate?: Promise<void> } = {}): Runnable {
  return {
    name,
    ...more,
    start: async () => {
      log.push(`start ${name}`);
      await more.gate;
    },
    stop: async () => void log.push(`stop ${name}`),
  };
}

const silent = pino({ level: "silent" });

describe("Manager", () => {
  it("starts every replica's runnables in order, then the leader-only ones once it leads, and stops in reverse", async () => {
    const log: string[] = [];
    const m = new Manager({ log: silent });
    m.add(runnable(log, "server"));
    m.add(runnable(log, "status", { leaderOnly: true }));
    m.add(runnable(log, "feed"));
    m.add(runnable(log, "mirrors", { leaderOnly: true }));
    await m.start();
    // AlwaysLeader by default: the leader-only runnables run once start() resolves
    expect(m.leading).toBe(true);
    expect(log).toEqual(["start server", "start feed", "start status", "start mirrors"]);
    log.length = 0;
    await m.stop();
    expect(m.leading).toBe(false);
    expect(log).toEqual(["stop mirrors", "stop status", "stop feed", "stop server"]);
  });

  it("starts the leader-only runnables when it becomes leader and stops them when it no longer is", async () => {
    const log: string[] = [];
    const leadership = new FlipLeadership(log);
    const m = new Manager({ log: silent, leadership });
    m.add(runnable(log, "server"));
    m.add(runnable(log, "events", { leaderOnly: true }));
    m.add(runnable(log, "status", { leaderOnly: true }));
    await m.start();
    expect(log).toEqual(["start server", "start leadership"]);
    expect(m.leading).toBe(false);
    leadership.set(true);
    await expect.poll(() => log.at(-1)).toBe("start status");
    leadership.set(false);
    await expect.poll(() => log.at(-1)).toBe("stop events");
    leadership.set(true);
    await expect.poll(() => log.at(-1)).toBe("start status");
    log.length = 0;
    await m.stop();
    // the leader-only runnables stop before leadership is given up, the others after
    expect(log).toEqual(["stop status", "stop events", "stop leadership", "stop server"]);
  });

  it("follows changes one at a time, acting on the leadership as it is when each turn comes", async () => {
    const log: string[] = [];
    const leadership = new FlipLeadership(log);
    let release = () => {};
    const gate = new Promise<void>(resolve => (release = resolve));
    const m = new Manager({ log: silent, leadership });
    m.add(runnable(log, "status", { leaderOnly: true, gate }));
    await m.start();
    leadership.set(true);
    await expect.poll(() => log).toContain("start status");
    // lost and won again while the start is still running: nothing to stop or start after it
    leadership.set(false);
    leadership.set(true);
    release();
    await m.stop();
    expect(log).toEqual(["start leadership", "start status", "stop status", "stop leadership"]);
  });

  it("registers each runnable's readiness kind as it is added, and refuses a runnable after start", async () => {
    const kinds: string[] = [];
    const m = new Manager({ log: silent, registerReadiness: kind => kinds.push(kind) });
    m.add(runnable([], "podindexes", { readiness: "podindexes" }));
    m.add(runnable([], "server"));
    m.add(runnable([], "pods", { readiness: "pods" }));
    expect(kinds).toEqual(["podindexes", "pods"]);
    await m.start();
    expect(() => m.add(runnable([], "late"))).toThrow("added after the manager started");
    await m.stop();
  });

  it("stops everything even when one stop fails, and rejects with that failure", async () => {
    const log: string[] = [];
    const m = new Manager({ log: silent, leadership: new AlwaysLeader() });
    m.add(runnable(log, "server"));
    m.add({ ...runnable(log, "feed"), stop: () => Promise.reject(new Error("stuck")) });
    m.add(runnable(log, "status", { leaderOnly: true }));
    await m.start();
    log.length = 0;
    await expect(m.stop()).rejects.toThrow("stuck");
    expect(log).toEqual(["stop status", "stop server"]);
  });

  it("starts nothing more once stopped during start (a signal while the first list is awaited)", async () => {
    const log: string[] = [];
    let release = () => {};
    const gate = new Promise<void>(resolve => (release = resolve));
    const m = new Manager({ log: silent });
    m.add(runnable(log, "resync", { gate }));
    m.add(runnable(log, "feed"));
    m.add(runnable(log, "status", { leaderOnly: true }));
    const starting = m.start();
    await m.stop();
    release();
    await starting;
    expect(log).toEqual(["start resync", "stop feed", "stop resync"]);
    expect(m.leading).toBe(false);
  });
});
