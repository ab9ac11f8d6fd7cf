import { Capability, K8s, Log, kind } from "pepr";
import { PodIndexApp } from "../src/app";
import { coreEvent } from "../src/events";
import { podFeed, sliceFeed } from "../src/feed/paged-feed";
import { PodIndex } from "../src/kinds/podindex";

/**
 * The only file that knows Pepr's DSL: it hands PodIndex events to the app. Pods do not come
 * through a Pepr binding (each binding opens its own list+watch and none receives every event
 * type); they come through the app's single pod feed.
 */
/** KFC rejects with the response (status, statusText), or with status 400 "fetch failed" when it cannot connect. */
function whyListFailed(err: { status?: number; statusText?: string }): string {
  if (err.status === 404) return "the PodIndex CRD (podindexes.podindex.dev) is not installed";
  if (err.statusText === "fetch failed") return "the apiserver cannot be reached";
  return `listing PodIndexes failed: ${err.status ?? ""} ${err.statusText ?? String(err)}`.trim();
}

export const podIndexApp = new PodIndexApp({
  log: Log,
  podFeed,
  sliceFeed,
  listPodIndexes: async () => {
    const list = await K8s(PodIndex)
      .Get()
      .catch(err => {
        throw new Error(whyListFailed(err));
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
