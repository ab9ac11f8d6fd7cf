import { Watcher, WatchEvent } from "kubernetes-fluent-client/dist/fluent/watch.js";
import { Capability, K8s, Log, a, kind } from "pepr";
import { PodIndexApp } from "../src/app";
import type { PodLike } from "../src/cache/pod-record";
import { podSource } from "../src/config";
import type { SliceLike } from "../src/endpoints/slice-record";
import { coreEvent } from "../src/events";
import type { FeedOptions, FeedPhase } from "../src/feed/object-feed";
import { podFeed, sliceFeed } from "../src/feed/paged-feed";
import { PushHub, PushedFeed, type Listing } from "../src/feed/pushed-feed";
import { PodIndex } from "../src/kinds/podindex";

/**
 * The only file that knows Pepr's DSL: it hands PodIndex events to the app, and, with
 * PODINDEX_SOURCE=pepr, Pod and EndpointSlice events too (docs/sources.md). By default pods and
 * slices do not come through Pepr bindings (each binding opens its own list+watch and none
 * receives every event type); they come through the app's paged feeds.
 */
/**
 * KFC rejects with the response (status, statusText), or with status 400 "fetch failed" when it
 * cannot connect. An answer it could not read (cut mid-body, not JSON, or longer than V8's longest
 * string) keeps its status, 200, with the reading's error as `e`.
 */
function whyListFailed(what: string, err: { status?: number; statusText?: string; e?: unknown }): string {
  if (err.statusText === "fetch failed") return "the apiserver cannot be reached";
  if (err.e instanceof Error) {
    const cause = err.e.cause instanceof Error ? `: ${err.e.cause.message}` : "";
    return `listing ${what} failed: its answer (HTTP ${err.status}) could not be read: ${err.e.message}${cause}`;
  }
  return `listing ${what} failed: ${err.status ?? ""} ${err.statusText ?? String(err)}`.trim();
}

/**
 * Pepr 1.1.4 logs each list its watchers receive as `JSON.stringify(list, undefined, 2)`, built at
 * any log level (`registerWatchEventHandlers`): at 10k realistic pods that is 377M characters and
 * about 2 s of blocked event loop for each Pod binding's list, at its start and every relist (600 s),
 * and from about 14k pods the string is longer than V8 allows, so the list throws and KFC skips its
 * items and its resourceVersion. Every watcher in this process logs a list's size instead. Patched
 * on KFC's Watcher (the one module both Pepr and this file load) because Pepr does not expose its
 * watchers; the listeners are swapped when a watch starts, after Pepr has registered them.
 */
const startWatch = Watcher.prototype.start;
Watcher.prototype.start = function (this: Watcher<never>) {
  this.events.removeAllListeners(WatchEvent.LIST);
  this.events.on(WatchEvent.LIST, (list: { items?: unknown[]; metadata?: { resourceVersion?: string } }) =>
    Log.debug(
      { items: list.items?.length ?? 0, resourceVersion: list.metadata?.resourceVersion },
      "Watch event list received",
    ),
  );
  return startWatch.call(this);
};

/** PODINDEX_SOURCE, read at import (starting nothing: `pepr build` imports this too); a bad value throws its ConfigError here. */
const source = podSource();

/** where the Pod and EndpointSlice bindings push (PODINDEX_SOURCE=pepr) */
const pushedPods = new PushHub<PodLike>();
const pushedSlices = new PushHub<SliceLike>();

/** One full list through KFC: a pushed feed's start, its proof of sync, and its idle re-proof. */
function lister<T>(what: string, get: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>) {
  return async (): Promise<Listing<T>> => {
    const list = await get().catch(err => {
      throw new Error(whyListFailed(what, err));
    });
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  };
}

const listPods = lister<PodLike>("Pods", () => K8s(kind.Pod).Get());
const listSlices = lister<SliceLike>("EndpointSlices", () => K8s(kind.EndpointSlice).Get());

export const podIndexApp = new PodIndexApp({
  log: Log,
  podFeed:
    source === "pepr" ? (opts: FeedOptions) => new PushedFeed({ hub: pushedPods, list: listPods, ...opts }) : podFeed,
  sliceFeed:
    source === "pepr"
      ? (opts: FeedOptions) => new PushedFeed({ hub: pushedSlices, list: listSlices, ...opts })
      : sliceFeed,
  listPodIndexes: async () => {
    const list = await K8s(PodIndex)
      .Get()
      .catch(err => {
        if (err?.status === 404) throw new Error("the PodIndex CRD (podindexes.podindex.dev) is not installed");
        throw new Error(whyListFailed("PodIndexes", err));
      });
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  },
  writeStatus: async (name, status) => {
    await K8s(PodIndex).PatchStatus({ metadata: { name }, status });
  },
  emitEvent: async (subject, event) => {
    await K8s(kind.CoreEvent).Create(coreEvent(subject, event));
  },
  readSecret: async (namespace, name) => {
    const secret = await K8s(kind.Secret).InNamespace(namespace).Get(name);
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, "base64").toString("utf8");
    return { ...data, ...secret.stringData };
  },
});

export const PodIndexCapability = new Capability({
  name: "podindex",
  description: "Indexes pods by IP and UID for the PodIndex objects in the cluster",
});

const { When } = PodIndexCapability;

When(PodIndex)
  .IsCreatedOrUpdated()
  .Reconcile(pi => podIndexApp.applyPodIndex(pi));

When(PodIndex)
  .IsDeleted()
  .Watch(pi => podIndexApp.removePodIndex(pi));

/** what the creations-and-updates binding saw: Pepr passes KFC's WatchPhase, whose values are the event types */
const changed = (phase: unknown): FeedPhase => (String(phase) === "ADDED" ? "ADDED" : "MODIFIED");

/**
 * PODINDEX_SOURCE=pepr: Pods and EndpointSlices through Pepr bindings, registered only then. When()
 * has no any-event form, so each kind takes two bindings, and so two list+watch streams: one for
 * creations and updates, one for deletions. The PushedFeed orders them (a deleted UID stays deleted).
 */
if (source === "pepr") {
  When(a.Pod)
    .IsCreatedOrUpdated()
    .Watch((pod, phase) => pushedPods.push(changed(phase), pod));
  When(a.Pod)
    .IsDeleted()
    .Watch(pod => pushedPods.push("DELETED", pod));
  When(a.EndpointSlice)
    .IsCreatedOrUpdated()
    .Watch((slice, phase) => pushedSlices.push(changed(phase), slice));
  When(a.EndpointSlice)
    .IsDeleted()
    .Watch(slice => pushedSlices.push("DELETED", slice));
}
