import { isOlder } from "../cache/resource-version";
import { Backoff, type BackoffOptions } from "./backoff";
import type { FeedHandlers, FeedPhase, ObjectFeed } from "./object-feed";
import type { Tracked } from "./paged-feed";

/** One complete list of a kind: its items and the resourceVersion it was read at. */
export interface Listing<T> {
  items: T[];
  resourceVersion: string;
}

type Listener<T> = (phase: FeedPhase, obj: T) => void;

/**
 * Where watch events that arrive outside any feed (Pepr's bindings) are pushed. Every feed
 * started on it hears each push, synchronously and in push order; with none started a push is
 * dropped (the next feed's list reads the state anyway).
 */
export class PushHub<T> {
  readonly #listeners = new Set<Listener<T>>();

  push(phase: FeedPhase, obj: T): void {
    for (const listener of [...this.#listeners]) listener(phase, obj);
  }

  /** Hear every push until the returned function is called. */
  subscribe(listener: Listener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export interface PushedFeedOptions<T> {
  hub: PushHub<T>;
  /**
   * one full list of the kind: what the feed starts from and reports onSynced after (a push source
   * such as a Pepr binding never says when its own list is in), and, after `idleTimeoutMs` without
   * a push, the proof that what was delivered is still current
   */
  list: () => Promise<Listing<T>>;
  /** how long (ms) without a push before the feed lists again; default 90 000 */
  idleTimeoutMs?: number;
  /** a list not answered within this (ms) counts as failed and is retried (its late answer is dropped); default 60 000 */
  listTimeoutMs?: number;
  /** waits between failed lists; see Backoff */
  backoff?: BackoffOptions;
  /** how many deleted UIDs are remembered (oldest forgotten first); default 100 000 */
  tombstones?: number;
}

interface Held {
  rv: string;
  name?: string;
  namespace?: string;
}

/**
 * An ObjectFeed whose events are pushed to it (by Pepr's When(a.Pod) / When(a.EndpointSlice)
 * bindings, through a PushHub), with a list of its own for what pushes cannot tell:
 * - onSynced once its first list is delivered (the state at a moment after start());
 * - a list again after `idleTimeoutMs` without a push: it proves the state current on a quiet
 *   cluster (pushes carry no bookmarks) and reports what vanished meanwhile;
 * - pushes and list items may come from several streams in any order between them (Pepr opens one
 *   watch for creations and updates and another for deletions): only states newer than the one
 *   passed on go on, and a deleted UID stays deleted (UIDs are never reused), so a late, older
 *   update from the other stream cannot bring an object back;
 * - a list reports as DELETED only what it lacks and what was last seen at or before its
 *   resourceVersion (an object pushed since is newer than the list, not gone);
 * - failed lists (an error, or no answer within `listTimeoutMs`) are reported (onError), retried
 *   with backoff, and onRecovered once one succeeds;
 * - stop() ends it: nothing is delivered and no list is started after it returns.
 */
export class PushedFeed<T extends Tracked> implements ObjectFeed<T> {
  readonly #held = new Map<string, Held>();
  readonly #deleted = new Set<string>();
  readonly #hub: PushHub<T>;
  readonly #list: () => Promise<Listing<T>>;
  readonly #idleTimeoutMs: number;
  readonly #listTimeoutMs: number;
  readonly #tombstones: number;
  readonly #backoff: Backoff;
  #stopped = false;
  #unsubscribe: (() => void) | undefined;
  /** wakes the loop's wait early (stop) */
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** fails the list in flight after listTimeoutMs (cleared by stop(): nothing is waited for after it) */
  #listTimer: NodeJS.Timeout | undefined;
  #lastPush = 0;
  #failing = false;

  constructor(opts: PushedFeedOptions<T>) {
    this.#hub = opts.hub;
    this.#list = opts.list;
    // `?? default`, not a spread: the app passes idleTimeoutMs: undefined when it is not configured
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? 90_000;
    this.#listTimeoutMs = opts.listTimeoutMs ?? 60_000;
    this.#tombstones = opts.tombstones ?? 100_000;
    this.#backoff = new Backoff(opts.backoff);
  }

  async start(h: FeedHandlers<T>): Promise<void> {
    this.#unsubscribe = this.#hub.subscribe((phase, obj) => this.#pushed(h, phase, obj));
    void this.#run(h);
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    clearTimeout(this.#listTimer);
    this.#wake?.();
  }

  #pushed(h: FeedHandlers<T>, phase: FeedPhase, obj: T): void {
    if (this.#stopped) return;
    this.#lastPush = Date.now();
    this.#deliver(h, phase, obj);
    h.onFresh?.();
  }

  async #run(h: FeedHandlers<T>): Promise<void> {
    let synced = false;
    while (!this.#stopped) {
      try {
        this.#apply(h, await this.#listInTime());
      } catch (err) {
        if (this.#stopped) return;
        this.#failing = true;
        h.onError(err);
        await this.#wait(this.#backoff.next());
        continue;
      }
      if (this.#stopped) return;
      if (this.#failing) {
        this.#failing = false;
        h.onRecovered?.();
      }
      if (!synced) {
        synced = true;
        h.onSynced();
      }
      h.onFresh?.();
      await this.#idle();
    }
  }

  /** The list, or a rejection once `listTimeoutMs` has passed without its answer. */
  #listInTime(): Promise<Listing<T>> {
    const late = new Promise<never>((_, reject) => {
      this.#listTimer = setTimeout(
        () => reject(new Error(`the list was not answered within ${this.#listTimeoutMs} ms`)),
        this.#listTimeoutMs,
      );
    });
    return Promise.race([this.#list(), late]).finally(() => clearTimeout(this.#listTimer));
  }

  /** Deliver a list's items that are newer than what was passed on, then what it shows gone. */
  #apply(h: FeedHandlers<T>, list: Listing<T>): void {
    if (this.#stopped) return;
    const seen = new Set<string>();
    for (const item of list.items) {
      const uid = item.metadata?.uid;
      if (uid) seen.add(uid);
      this.#deliver(h, uid && this.#held.has(uid) ? "MODIFIED" : "ADDED", item);
    }
    for (const [uid, held] of [...this.#held]) {
      if (seen.has(uid) || isOlder(list.resourceVersion, held.rv)) continue;
      const metadata = { uid, name: held.name, namespace: held.namespace, resourceVersion: held.rv };
      this.#deliver(h, "DELETED", { metadata } as T);
    }
  }

  /** Pass on one state unless it is not newer than what was passed on, or its UID was deleted. */
  #deliver(h: FeedHandlers<T>, phase: FeedPhase, obj: T): void {
    if (this.#stopped) return;
    const m = obj.metadata ?? {};
    if (!m.uid) return h.onSkipped?.(phase, obj, new Error("the object has no metadata.uid"));
    if (this.#deleted.has(m.uid)) return;
    const rv = m.resourceVersion ?? "";
    if (phase === "DELETED") {
      this.#held.delete(m.uid);
      this.#deleted.add(m.uid);
      if (this.#deleted.size > this.#tombstones) this.#deleted.delete(this.#deleted.values().next().value!);
    } else {
      const held = this.#held.get(m.uid);
      if (held && (held.rv === rv || isOlder(rv, held.rv))) return;
      this.#held.set(m.uid, { rv, name: m.name, namespace: m.namespace });
    }
    try {
      h.onEvent(phase, obj);
    } catch (err) {
      h.onSkipped?.(phase, obj, err);
    }
  }

  /** Until `idleTimeoutMs` has passed without a push (or stop). */
  async #idle(): Promise<void> {
    this.#lastPush = Date.now();
    for (;;) {
      const left = this.#lastPush + this.#idleTimeoutMs - Date.now();
      if (left <= 0 || this.#stopped) return;
      await this.#wait(left);
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise(resolve => {
      if (this.#stopped) return resolve();
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }
}
