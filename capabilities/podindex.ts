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
export const podIndexApp = new PodIndexApp({
  log: Log,
  podFeed,
  sliceFeed,
  listPodIndexes: async () => {
    const list = await K8s(PodIndex)
      .Get()
      .catch((err: { status?: number; statusText?: string }) => {
        // KFC rejects with the response (status, statusText), or status 400 "fetch failed" when unreachable
        throw new Error(
          err.status === 404
            ? "the PodIndex CRD (podindexes.podindex.dev) is not installed"
            : `listing PodIndexes failed: ${err.status ?? ""} ${err.statusText ?? String(err)}`.trim(),
        );
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
