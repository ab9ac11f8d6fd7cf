import { K8s, WatchEvent, kind } from "kubernetes-fluent-client";
import type { GenericClass } from "kubernetes-fluent-client";
import type { FeedHandlers, FeedPhase, ObjectFeed } from "./object-feed";

const PHASES: ReadonlySet<string> = new Set<FeedPhase>(["ADDED", "MODIFIED", "DELETED"]);

/**
 * An ObjectFeed over kubernetes-fluent-client's Watcher: one list, then one watch from the list's
 * resourceVersion; on any stream failure KFC relists and delivers the difference (DELETED for what
 * vanished, ADDED/MODIFIED for what is new), so the consumer never has to resume by itself.
 */
export class KfcFeed<T extends GenericClass> implements ObjectFeed<InstanceType<T>> {
  #watcher: ReturnType<ReturnType<typeof K8s<T>>["Watch"]> | undefined;

  constructor(private readonly model: T) {}

  async start(handlers: FeedHandlers<InstanceType<T>>): Promise<void> {
    let listed = false;
    let synced = false;
    const watcher = K8s(this.model).Watch((obj, phase) => {
      if (PHASES.has(phase)) handlers.onEvent(phase as FeedPhase, obj);
    });
    // A LIST page is followed synchronously by its items; the watch connects only after the whole
    // list was handed over, so the first CONNECT after a LIST means "initial list applied".
    watcher.events.on(WatchEvent.LIST, () => (listed = true));
    watcher.events.on(WatchEvent.CONNECT, () => {
      if (listed && !synced) {
        synced = true;
        handlers.onSynced();
      }
    });
    for (const failure of [
      WatchEvent.LIST_ERROR,
      WatchEvent.WATCH_ERROR,
      WatchEvent.NETWORK_ERROR,
      WatchEvent.DATA_ERROR,
    ]) {
      watcher.events.on(failure, (err: unknown) => handlers.onError(err));
    }
    this.#watcher = watcher;
    await watcher.start();
  }

  stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

export const podFeed = (): KfcFeed<typeof kind.Pod> => new KfcFeed(kind.Pod);
export const sliceFeed = (): KfcFeed<typeof kind.EndpointSlice> => new KfcFeed(kind.EndpointSlice);
