import pino from "pino";
import { describe, expect, it } from "vitest";
import { emptyMetrics } from "../../test/support/metrics";
import type { FeedHandlers, FeedOptions, ObjectFeed } from "../feed/object-feed";
import { Readiness } from "../readiness";
import { FeedRunner } from "./feed-runner";

class HandFeed implements ObjectFeed<string> {
  handlers: FeedHandlers<string> | undefined;
  stopped = false;
  constructor(readonly opts: FeedOptions) {}
  async start(h: FeedHandlers<string>): Promise<void> {
    this.handlers = h;
  }
  stop(): void {
    this.stopped = true;
  }
}

function setup() {
  let t = 0;
  const readiness = new Readiness([], () => t);
  const feeds: HandFeed[] = [];
  const applied: string[] = [];
  const failing: string[] = [];
  let recovered = 0;
  const runner = new FeedRunner<string>({
    kind: "things",
    feed: opts => (feeds.push(new HandFeed(opts)), feeds.at(-1)!),
    apply: (phase, obj) => void applied.push(`${phase} ${obj}`),
    readiness,
    metrics: emptyMetrics(),
    degraded: {
      watchFailed: kind => void failing.push(kind),
      watchWorks: kind => void (failing.includes(kind) && failing.splice(failing.indexOf(kind), 1)),
    },
    onRecovered: () => recovered++,
    log: pino({ level: "silent" }),
  });
  readiness.register(runner.readiness);
  return { runner, readiness, feeds, applied, failing, recovered: () => recovered, advance: (ms: number) => (t += ms) };
}

describe("FeedRunner", () => {
  it("applies events, and tells readiness when the list is in and each time the cache is proved fresh", () => {
    const { runner, readiness, feeds, applied, advance } = setup();
    runner.options = { idleTimeoutMs: 5000 };
    runner.start();
    expect(feeds[0].opts).toEqual({ idleTimeoutMs: 5000 });
    feeds[0].handlers!.onEvent("ADDED", "a");
    expect(readiness.waitingFor).toEqual(["things"]);
    feeds[0].handlers!.onSynced();
    expect(readiness.ready).toBe(true);
    advance(7000);
    expect(readiness.staleness("things")).toBe(7000);
    feeds[0].handlers!.onFresh!();
    expect(readiness.staleness("things")).toBe(0);
    expect(applied).toEqual(["ADDED a"]);
  });

  it("reports a failing watch as degraded until it delivers or recovers, and asks for a resync on recovery", () => {
    const { runner, feeds, failing, recovered } = setup();
    runner.start();
    feeds[0].handlers!.onError!(new Error("cut"));
    expect(failing).toEqual(["things"]);
    feeds[0].handlers!.onEvent("MODIFIED", "a");
    expect(failing).toEqual([]);
    feeds[0].handlers!.onError!(new Error("cut"));
    feeds[0].handlers!.onRecovered!();
    expect(failing).toEqual([]);
    expect(recovered()).toBe(1);
  });

  it("restarts with a fresh feed, running afterSync once its list is in, and stops", async () => {
    const { runner, feeds } = setup();
    expect(runner.running).toBe(false);
    runner.start();
    let synced = 0;
    runner.restart(() => synced++);
    expect(feeds[0].stopped).toBe(true);
    feeds[1].handlers!.onSynced();
    expect(synced).toBe(1);
    await runner.stop();
    expect(feeds[1].stopped).toBe(true);
    expect(runner.running).toBe(false);
  });
});
