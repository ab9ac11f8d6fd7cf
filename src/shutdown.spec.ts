import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Readiness } from "./readiness";
import { drainAndExit, installShutdown, listenersAddedBy, type SignalSource } from "./shutdown";

const log = { info: () => {}, error: () => {} };

describe("shutdown", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("turns readiness off at once, stops only after the drain, then exits 0", async () => {
    const readiness = new Readiness([]);
    const exit = vi.fn();
    let stopped = false;
    const stop = vi.fn(async () => {
      stopped = true;
    });
    void drainAndExit({ readiness, drainMs: 10_000, stop, log, exit });
    expect(readiness.draining).toBe(true);
    expect(readiness.ready).toBe(true); // lookups consult `ready`, which the drain leaves alone
    await vi.advanceTimersByTimeAsync(9_999);
    expect(stop).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(stopped).toBe(true);
    expect(exit).toHaveBeenCalledExactlyOnceWith(0);
    await vi.advanceTimersByTimeAsync(60_000); // the deadline was cleared: no second exit
    expect(exit).toHaveBeenCalledTimes(1);
  });

  it("exits 1 at drain + close timeout when stopping hangs", async () => {
    const exit = vi.fn();
    void drainAndExit({
      readiness: { draining: false },
      drainMs: 1_000,
      closeTimeoutMs: 2_000,
      stop: () => new Promise(() => {}),
      log,
      exit,
    });
    await vi.advanceTimersByTimeAsync(2_999);
    expect(exit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
  });

  it("exits 1 when stopping fails", async () => {
    const exit = vi.fn();
    const errors: object[] = [];
    void drainAndExit({
      readiness: { draining: false },
      drainMs: 0,
      stop: async () => {
        throw new Error("mirror would not stop");
      },
      log: { info: () => {}, error: obj => errors.push(obj) },
      exit,
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
    expect(errors).toEqual([{ err: new Error("mirror would not stop") }]);
  });

  it("replaces a listener that would exit at once (as Pepr's does), drains on the first signal, exits on a second", async () => {
    const proc = new EventEmitter() as EventEmitter & SignalSource;
    const exit = vi.fn();
    const earlier = vi.fn();
    proc.on("SIGTERM", earlier);
    const pepr = listenersAddedBy("SIGTERM", () => proc.on("SIGTERM", () => exit(143)), proc);
    expect(pepr).toHaveLength(1);
    const readiness = { draining: false };
    installShutdown({
      readiness,
      drainMs: 5_000,
      stop: async () => {},
      log,
      exit,
      signals: ["SIGTERM"],
      replacing: pepr,
      process: proc,
    });

    proc.emit("SIGTERM");
    expect(readiness.draining).toBe(true);
    expect(earlier).toHaveBeenCalledOnce(); // listeners it was not told to replace stay
    expect(exit).not.toHaveBeenCalled(); // Pepr's exit(143) is gone
    await vi.advanceTimersByTimeAsync(5_000);
    expect(exit).toHaveBeenCalledExactlyOnceWith(0);

    const again = new EventEmitter() as EventEmitter & SignalSource;
    const exit2 = vi.fn();
    installShutdown({
      readiness: { draining: false },
      drainMs: 5_000,
      stop: async () => {},
      log,
      exit: exit2,
      signals: ["SIGINT"],
      process: again,
    });
    again.emit("SIGINT");
    again.emit("SIGINT");
    expect(exit2).toHaveBeenCalledExactlyOnceWith(1);
  });
});
