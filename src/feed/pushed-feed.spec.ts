import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { FeedHandlers, FeedPhase } from "./object-feed";
import { PushHub, PushedFeed, type Listing } from "./pushed-feed";

interface Obj {
  metadata?: { uid?: string; name?: string; namespace?: string; resourceVersion?: string };
  v?: string;
}

const obj = (uid: string, rv: string, v = ""): Obj => ({
  metadata: { uid, name: `n-${uid}`, namespace: "apps", resourceVersion: rv },
  v,
});

/** What a consumer saw, in order: events as "PHASE uid@rv", and the other calls by name. */
function recorder(opts: { throwOn?: string } = {}) {
  const seen: string[] = [];
  const handlers: FeedHandlers<Obj> = {
    onEvent: (phase: FeedPhase, o: Obj) => {
      if (o.metadata?.uid === opts.throwOn) throw new Error("consumer failed");
      seen.push(`${phase} ${o.metadata?.uid}@${o.metadata?.resourceVersion}`);
    },
    onSynced: () => seen.push("synced"),
    onError: err => seen.push(`error: ${(err as Error).message}`),
    onRecovered: () => seen.push("recovered"),
    onSkipped: (phase, o, err) => seen.push(`skipped ${phase} ${o.metadata?.uid ?? "-"}: ${(err as Error).message}`),
  };
  const fresh = vi.fn();
  return { seen, handlers: { ...handlers, onFresh: fresh }, fresh, events: () => seen.filter(s => /^[A-Z]/.test(s)) };
}

/** A list function answering from a script of listings (or errors), one per call; it records the calls. */
function lister(...answers: (Listing<Obj> | Error)[]) {
  const calls = vi.fn(async (): Promise<Listing<Obj>> => {
    const next = answers.length > 1 ? answers.shift()! : answers[0];
    if (next instanceof Error) throw next;
    return next;
  });
  return calls;
}

describe("PushedFeed", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const noJitter = { jitter: 0, initialMs: 100 };

  it("delivers its first list, then reports synced and fresh once; pushes after that go on as they come", async () => {
    const hub = new PushHub<Obj>();
    const list = lister({ items: [obj("a", "10"), obj("b", "11")], resourceVersion: "12" });
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r = recorder();
    await feed.start(r.handlers);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.seen).toEqual(["ADDED a@10", "ADDED b@11", "synced"]);
    expect(r.fresh).toHaveBeenCalledTimes(1);

    hub.push("MODIFIED", obj("a", "13"));
    hub.push("ADDED", obj("c", "14"));
    hub.push("DELETED", obj("b", "15"));
    expect(r.events().slice(2)).toEqual(["MODIFIED a@13", "ADDED c@14", "DELETED b@15"]);
    expect(r.fresh).toHaveBeenCalledTimes(4);
    feed.stop();
  });

  it("passes on only states newer than the one it passed on, from pushes and list items alike", async () => {
    const hub = new PushHub<Obj>();
    let answer!: (l: Listing<Obj>) => void;
    const list = vi.fn(() => new Promise<Listing<Obj>>(resolve => (answer = resolve)));
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r = recorder();
    await feed.start(r.handlers);
    // the binding's watch is quicker than the list: its newer state of "a" arrives first
    hub.push("MODIFIED", obj("a", "20"));
    answer({ items: [obj("a", "10"), obj("b", "11")], resourceVersion: "12" });
    await vi.advanceTimersByTimeAsync(0);
    hub.push("MODIFIED", obj("b", "11")); // the same state again (the other binding's list)
    hub.push("MODIFIED", obj("a", "19")); // older than what was passed on
    expect(r.events()).toEqual(["MODIFIED a@20", "ADDED b@11"]);
    feed.stop();
  });

  it("keeps a deleted object deleted: a later, older update from the other stream or a list read before the deletion cannot bring it back", async () => {
    const hub = new PushHub<Obj>();
    let answer!: (l: Listing<Obj>) => void;
    const list = vi.fn(() => new Promise<Listing<Obj>>(resolve => (answer = resolve)));
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r = recorder();
    await feed.start(r.handlers);
    hub.push("ADDED", obj("a", "10"));
    // the deletion watch delivers first, the creation/update watch's last update of "a" after it
    hub.push("DELETED", obj("a", "30"));
    hub.push("MODIFIED", obj("a", "29"));
    // and the feed's own list, read before the deletion, still holds "a"
    answer({ items: [obj("a", "29")], resourceVersion: "29" });
    await vi.advanceTimersByTimeAsync(0);
    expect(r.events()).toEqual(["ADDED a@10", "DELETED a@30"]);
    expect(r.seen.at(-1)).toBe("synced");
    feed.stop();
  });

  it("lists again after idleTimeoutMs without a push, proving the state fresh and reporting only what vanished before that list", async () => {
    const hub = new PushHub<Obj>();
    const list = lister(
      { items: [obj("a", "10"), obj("b", "11")], resourceVersion: "12" },
      // "b" is gone; "c", pushed at 40, is newer than this list (read at 35), so it is not gone
      { items: [obj("a", "10")], resourceVersion: "35" },
    );
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r = recorder();
    await feed.start(r.handlers);
    await vi.advanceTimersByTimeAsync(0);
    hub.push("ADDED", obj("c", "40"));
    // pushes keep the feed from listing: 900 ms after the last push, still one list
    await vi.advanceTimersByTimeAsync(900);
    expect(list).toHaveBeenCalledTimes(1);
    const freshBefore = r.fresh.mock.calls.length;
    await vi.advanceTimersByTimeAsync(100);
    expect(list).toHaveBeenCalledTimes(2);
    expect(r.events()).toEqual(["ADDED a@10", "ADDED b@11", "ADDED c@40", "DELETED b@11"]);
    expect(r.fresh.mock.calls.length).toBe(freshBefore + 1);
    expect(r.seen.filter(s => s === "synced")).toHaveLength(1);
    // on a quiet cluster it keeps listing, once per idleTimeoutMs
    await vi.advanceTimersByTimeAsync(1000);
    expect(list).toHaveBeenCalledTimes(3);
    feed.stop();
  });

  it("lists again after 90 s without a push when idleTimeoutMs is left undefined (the app's unconfigured default)", async () => {
    const list = lister({ items: [], resourceVersion: "1" });
    const feed = new PushedFeed({ hub: new PushHub<Obj>(), list, idleTimeoutMs: undefined });
    await feed.start(recorder().handlers);
    await vi.advanceTimersByTimeAsync(89_999);
    expect(list).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(list).toHaveBeenCalledTimes(2);
    feed.stop();
  });

  it("reports a failed list, retries it with backoff, reports synced only after the first success and recovered after a later one", async () => {
    const hub = new PushHub<Obj>();
    const ok = { items: [obj("a", "10")], resourceVersion: "12" };
    const list = lister(new Error("the apiserver cannot be reached"), ok, new Error("503 ServiceUnavailable"), ok);
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000, backoff: noJitter });
    const r = recorder();
    await feed.start(r.handlers);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.seen).toEqual(["error: the apiserver cannot be reached"]);
    await vi.advanceTimersByTimeAsync(100); // the first backoff
    expect(r.seen.slice(1)).toEqual(["ADDED a@10", "recovered", "synced"]);
    await vi.advanceTimersByTimeAsync(1000); // idle: the proof list fails
    expect(r.seen.at(-1)).toBe("error: 503 ServiceUnavailable");
    await vi.advanceTimersByTimeAsync(199); // the second failure within 2 min: twice the first wait
    expect(list).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.seen.at(-1)).toBe("recovered");
    expect(list).toHaveBeenCalledTimes(4);
    feed.stop();
  });

  it("takes a list not answered within listTimeoutMs for failed, retries, and drops the late answer", async () => {
    const hub = new PushHub<Obj>();
    const answers: ((l: Listing<Obj>) => void)[] = [];
    const list = vi.fn(() => new Promise<Listing<Obj>>(resolve => answers.push(resolve)));
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000, listTimeoutMs: 500, backoff: noJitter });
    const r = recorder();
    await feed.start(r.handlers);
    await vi.advanceTimersByTimeAsync(499);
    expect(r.seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.seen).toEqual(["error: the list was not answered within 500 ms"]);
    answers[0]({ items: [obj("stale", "5")], resourceVersion: "5" });
    await vi.advanceTimersByTimeAsync(100); // the backoff, then the second list
    expect(list).toHaveBeenCalledTimes(2);
    answers[1]({ items: [obj("a", "10")], resourceVersion: "12" });
    await vi.advanceTimersByTimeAsync(0);
    expect(r.seen.slice(1)).toEqual(["ADDED a@10", "recovered", "synced"]);
    feed.stop();
  });

  it("delivers nothing and lists no more once stopped, even when its list answers after stop()", async () => {
    const hub = new PushHub<Obj>();
    let answer!: (l: Listing<Obj>) => void;
    const list = vi.fn(() => new Promise<Listing<Obj>>(resolve => (answer = resolve)));
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r = recorder();
    await feed.start(r.handlers);
    feed.stop();
    answer({ items: [obj("a", "10")], resourceVersion: "12" });
    hub.push("ADDED", obj("b", "13"));
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.seen).toEqual([]);
    expect(r.fresh).not.toHaveBeenCalled();
    expect(list).toHaveBeenCalledTimes(1);
  });

  it("leaves no timer behind when stopped while its list is unanswered", async () => {
    const list = vi.fn(() => new Promise<Listing<Obj>>(() => undefined));
    const feed = new PushedFeed({ hub: new PushHub<Obj>(), list, listTimeoutMs: 500 });
    const r = recorder();
    await feed.start(r.handlers);
    feed.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.seen).toEqual([]);
  });

  it("a second feed on the same hub (a restarted pod stream) delivers the whole state again from its own list", async () => {
    const hub = new PushHub<Obj>();
    const list = lister({ items: [obj("a", "10"), obj("b", "11")], resourceVersion: "12" });
    const first = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r1 = recorder();
    await first.start(r1.handlers);
    await vi.advanceTimersByTimeAsync(0);
    first.stop();
    const second = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r2 = recorder();
    await second.start(r2.handlers);
    await vi.advanceTimersByTimeAsync(0);
    hub.push("MODIFIED", obj("b", "14"));
    expect(r2.seen).toEqual(["ADDED a@10", "ADDED b@11", "synced", "MODIFIED b@14"]);
    expect(r1.events()).toEqual(["ADDED a@10", "ADDED b@11"]);
    second.stop();
  });

  it("skips what it cannot pass on (no uid, a consumer that throws) and carries on; a thrown-on state counts as passed on", async () => {
    const hub = new PushHub<Obj>();
    const list = lister({ items: [{ v: "no metadata" }, obj("bad", "10"), obj("a", "11")], resourceVersion: "12" });
    const feed = new PushedFeed({ hub, list, idleTimeoutMs: 1000 });
    const r = recorder({ throwOn: "bad" });
    await feed.start(r.handlers);
    await vi.advanceTimersByTimeAsync(0);
    hub.push("MODIFIED", obj("bad", "10"));
    expect(r.seen).toEqual([
      "skipped ADDED -: the object has no metadata.uid",
      "skipped ADDED bad: consumer failed",
      "ADDED a@11",
      "synced",
    ]);
    feed.stop();
  });
});
