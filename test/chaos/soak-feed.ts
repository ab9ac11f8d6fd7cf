/**
 * The process whose memory the soak measures (run by soak.spec.ts with `node --expose-gc --import
 * tsx`): the real pod and EndpointSlice PagedFeeds into a PodCache and an EndpointCache, wired as
 * src/app.ts wires them, against the simulator named by KUBECONFIG. Nothing else lives here, so
 * its heap is the index's.
 *
 * Messages from the parent: `{ sync }` is answered once both feeds delivered at least those
 * resourceVersions and the caches hold as many objects as the apiserver, with `{ heapUsed, pods, slices, events, failures }` measured after
 * a full GC.
 */
import { PodCache } from "../../src/cache/pod-cache";
import type { PodLike } from "../../src/cache/pod-record";
import { isOlder } from "../../src/cache/resource-version";
import { EndpointCache } from "../../src/endpoints/endpoint-cache";
import type { SliceLike } from "../../src/endpoints/slice-record";
import type { FeedHandlers, FeedPhase } from "../../src/feed/object-feed";
import { podFeed, sliceFeed } from "../../src/feed/paged-feed";

export interface SyncRequest {
  /** the newest resourceVersions written, and how many pods and slices the apiserver holds */
  sync: { pods: string; slices: string; podCount: number; sliceCount: number };
}
export interface HeapReport {
  heapUsed: number;
  pods: number;
  slices: number;
  events: number;
  failures: number;
}

const gc = globalThis.gc;
if (!gc || !process.send) throw new Error("run me with node --expose-gc as a child process (soak.spec.ts does)");

const pods = new PodCache();
const endpoints = new EndpointCache();
const seen = { pods: "0", slices: "0" };
let events = 0;
let failures = 0;
let waiting: { want: SyncRequest["sync"]; done: () => void } | undefined;

/** every state written has arrived, and so have the deletions (a relist reports them only once it is complete) */
const caughtUp = (want: SyncRequest["sync"]) =>
  !isOlder(seen.pods, want.pods) &&
  !isOlder(seen.slices, want.slices) &&
  pods.size === want.podCount &&
  endpoints.size === want.sliceCount;

function handlers<T extends PodLike | SliceLike>(
  kind: "pods" | "slices",
  apply: (phase: FeedPhase, obj: T) => void,
): FeedHandlers<T> {
  return {
    onEvent: (phase, obj) => {
      events++;
      apply(phase, obj);
      const rv = obj.metadata?.resourceVersion ?? "0";
      if (isOlder(seen[kind], rv)) seen[kind] = rv;
      if (waiting && caughtUp(waiting.want)) waiting.done();
    },
    onSynced: () => {},
    onError: () => void failures++,
  };
}

const tuning = { pageSize: 500, watchSeconds: 5, idleTimeoutMs: 5000, backoff: { initialMs: 10, maxMs: 200 } };
const feeds = [podFeed(tuning), sliceFeed(tuning)] as const;
void feeds[0].start(handlers<PodLike>("pods", (p, o) => (p === "DELETED" ? pods.remove(o) : pods.upsert(o))));
void feeds[1].start(
  handlers<SliceLike>("slices", (p, o) => (p === "DELETED" ? endpoints.remove(o) : endpoints.upsert(o))),
);

process.on("disconnect", () => process.exit(0));
process.on("message", (msg: SyncRequest | "stop") => {
  if (msg === "stop") {
    feeds.forEach(f => f.stop());
    process.disconnect();
    return;
  }
  void new Promise<void>(resolve => {
    if (caughtUp(msg.sync)) return resolve();
    waiting = { want: msg.sync, done: resolve };
  }).then(() => {
    waiting = undefined;
    // let the stream buffers of this turn go before measuring
    setImmediate(() => {
      for (let i = 0; i < 3; i++) gc();
      const report: HeapReport = {
        heapUsed: process.memoryUsage().heapUsed,
        pods: pods.size,
        slices: endpoints.size,
        events,
        failures,
      };
      process.send!(report);
    });
  });
});
