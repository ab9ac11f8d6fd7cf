/**
 * What feeds the cache: one list+watch stream of one kind. Everything the cache learns about the
 * cluster arrives through this interface, so the watch path can be tuned or replaced (for example
 * by a paged, streaming list) without touching the cache, the views or the routes.
 */
export type FeedPhase = "ADDED" | "MODIFIED" | "DELETED";

export interface FeedHandlers<T> {
  /** one object changed; called synchronously and in stream order */
  onEvent(phase: FeedPhase, obj: T): void;
  /** the initial list has been delivered through onEvent and the watch is connected (once per start) */
  onSynced(): void;
  /** the stream failed; the feed retries on its own (relisting), this is for logs, metrics and conditions */
  onError(err: unknown): void;
  /** the stream is back after a failure (connected again), even if nothing changed meanwhile */
  onRecovered?(): void;
  /**
   * the apiserver just proved what was delivered current: a watch event, a bookmark, or a
   * completed list. Staleness is the time since the last call.
   */
  onFresh?(): void;
  /** onEvent threw for this object: the feed skipped it and carries on (for logs and metrics) */
  onSkipped?(phase: FeedPhase, obj: T, err: unknown): void;
}

/** What the app tells a feed it starts, from its configuration (a feed has defaults for each). */
export interface FeedOptions {
  /** PODINDEX_WATCH_IDLE_SECONDS in ms: a watch silent this long (not even a bookmark) is reconnected */
  idleTimeoutMs?: number;
}

export interface ObjectFeed<T> {
  start(handlers: FeedHandlers<T>): Promise<void>;
  stop(): void;
}
