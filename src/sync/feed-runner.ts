import type { Logger } from "pino";
import type { FeedHandlers, FeedOptions, FeedPhase, ObjectFeed } from "../feed/object-feed";
import type { Runnable } from "../manager/runnable";
import type { Metrics } from "../metrics";
import type { Readiness } from "../readiness";
import type { Degraded } from "../status/degraded";

export interface FeedRunnerDeps<T> {
  /** the Readiness kind the feed delivers: "pods", "endpointslices" */
  kind: string;
  /** a fresh feed each time the stream (re)starts */
  feed: (opts: FeedOptions) => ObjectFeed<T>;
  apply: (phase: FeedPhase, obj: T) => void;
  readiness: Readiness;
  metrics: Metrics;
  degraded: Pick<Degraded, "watchFailed" | "watchWorks">;
  /** the apiserver answers again after the watch failed */
  onRecovered: () => void;
  /** the initial list is in (after readiness was told) */
  onSynced?: () => void;
  log: Logger;
}

/**
 * One of podindex's own watches as a runnable (every replica): it applies the feed's events,
 * counts them, notes each proof of freshness, and reports its failures as Degraded until it recovers.
 */
export class FeedRunner<T> implements Runnable {
  readonly name: string;
  readonly readiness: string;
  /** what each feed is started with (the configured idle timeout; empty: the feed's own defaults) */
  options: FeedOptions = {};
  #feed: ObjectFeed<T> | undefined;

  constructor(private readonly deps: FeedRunnerDeps<T>) {
    this.name = `${deps.kind} feed`;
    this.readiness = deps.kind;
  }

  start(): void {
    this.#run();
  }

  async stop(): Promise<void> {
    this.#feed?.stop();
    this.#feed = undefined;
  }

  /** whether it was started and not stopped */
  get running(): boolean {
    return this.#feed !== undefined;
  }

  /** Read every object again with a fresh feed; `afterSync` runs once its list is in. */
  restart(afterSync: () => void): void {
    this.#feed?.stop();
    this.#run(afterSync);
  }

  #run(afterSync?: () => void): void {
    const { kind, metrics, degraded, readiness, log } = this.deps;
    metrics.relists.inc({ kind });
    const handlers: FeedHandlers<T> = {
      onEvent: (phase, obj) => {
        metrics.watchEvent(kind, phase);
        degraded.watchWorks(kind);
        this.deps.apply(phase, obj);
      },
      onSynced: () => {
        afterSync?.();
        // also after a restart: the feed it replaced may have been stopped before its first list was in
        readiness.markSynced(kind);
        this.deps.onSynced?.();
      },
      onFresh: () => readiness.markFresh(kind),
      onSkipped: (phase, obj, err) => {
        metrics.watchSkipped.inc({ kind });
        const m = (obj as { metadata?: { namespace?: string; name?: string; uid?: string } }).metadata;
        log.warn(
          { err, kind, phase, namespace: m?.namespace, name: m?.name, uid: m?.uid },
          "could not apply a watched object; skipped it",
        );
      },
      onRecovered: () => {
        degraded.watchWorks(kind);
        log.info({ kind }, "watch recovered");
        this.deps.onRecovered();
      },
      onError: err => {
        metrics.watchErrors.inc({ kind });
        degraded.watchFailed(kind, err);
        log.warn({ err, kind }, "watch failed; it relists and resumes by itself");
      },
    };
    const feed = this.deps.feed(this.options);
    this.#feed = feed;
    feed.start(handlers).catch(err => log.error({ err, kind }, "watch could not start"));
  }
}
