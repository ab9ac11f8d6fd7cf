import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { PodCache } from "./cache/pod-cache";
import type { PodLike } from "./cache/pod-record";
import type { Config } from "./config";
import type { ObjectFeed } from "./feed/object-feed";
import { ForwardAuth } from "./forward-auth/authorize";
import { buildServer } from "./http/server";
import type { PodIndex, PodIndexStatus } from "./kinds/podindex";
import { PodLookup } from "./lookup";
import { Metrics } from "./metrics";
import { Readiness } from "./readiness";
import { StatusWriter } from "./status/status-writer";
import { summarize } from "./status/summary";
import { SpecError } from "./views/selector";
import { PodIndexView } from "./views/view";
import { ViewSet } from "./views/view-set";

export interface AppDeps {
  log: Logger;
  /** a fresh pod feed each time the pod stream (re)starts */
  podFeed: () => ObjectFeed<PodLike>;
  /** one full list of PodIndex objects (the startup seed and the periodic safety resync) */
  listPodIndexes: () => Promise<PodIndex[]>;
  /** write a PodIndex's status through its status subresource */
  writeStatus: (name: string, status: PodIndexStatus) => Promise<void>;
}

/**
 * The running podindex: one pod cache, the views (one per PodIndex) over it, and the lookup server.
 * Bindings hand it PodIndex events; its pod feed hands the cache pod events. Constructing it
 * starts nothing (so `pepr build` can import it); start() does.
 */
export class PodIndexApp {
  readonly views = new ViewSet();
  readonly cache = new PodCache({ keepAnnotation: key => this.views.annotationKeys().has(key) });
  readonly readiness = new Readiness(["pods", "podindexes"]);
  readonly lookup = new PodLookup(this.cache, this.views, this.readiness);
  readonly metrics = new Metrics({
    pods: () => this.cache.size,
    podsPerIndex: () => new Map([...this.#summaries()].map(([name, s]) => [name, s.pods])),
  });
  readonly status: StatusWriter;
  #degraded: string | undefined;
  #feed: ObjectFeed<PodLike> | undefined;
  #server: FastifyInstance | undefined;
  #resync: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;

  constructor(private readonly deps: AppDeps) {
    this.status = new StatusWriter({
      log: deps.log,
      write: (name, status) => deps.writeStatus(name, status),
      summaries: () => this.#summaries(),
      degraded: () => this.#degraded,
      ready: () => this.readiness.ready,
      onWrite: podindex => this.metrics.statusWrites.inc({ podindex }),
    });
    this.cache.onChange(() => this.status.markDirty());
  }

  /** A PodIndex was created or changed: (re)build its view. Invalid specs stop serving it. */
  applyPodIndex(pi: PodIndex): void {
    const name = pi.metadata?.name;
    if (!name) return;
    const current = this.views.get(name);
    // Status writes and resyncs deliver the same object generation again: nothing to do.
    if (current && current.uid === (pi.metadata?.uid ?? "") && current.generation === (pi.metadata?.generation ?? 0))
      return;
    const knownKeys = this.views.annotationKeys();
    try {
      this.views.set(PodIndexView.fromResource(pi));
      this.status.track(pi);
      this.deps.log.info({ podindex: name, generation: pi.metadata?.generation }, "PodIndex applied");
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      this.views.delete(name);
      this.status.track(pi, err);
      this.deps.log.error(
        { podindex: name, reason: err.reason, err: err.message },
        "PodIndex spec is invalid; not serving it",
      );
      return;
    }
    const added = [...this.views.annotationKeys()].filter(k => !knownKeys.has(k));
    if (added.length > 0 && this.#feed) {
      this.deps.log.info({ podindex: name, annotations: added }, "new annotation keys exposed: re-reading pods");
      this.#restartPodFeed();
    }
  }

  /** A PodIndex was deleted: its view goes, unless the name already belongs to a newer object. */
  removePodIndex(pi: PodIndex): void {
    const name = pi.metadata?.name;
    const current = name ? this.views.get(name) : undefined;
    if (!name || (current && current.uid !== (pi.metadata?.uid ?? ""))) return;
    this.#forget(name);
  }

  /** Replace the whole set of PodIndexes with a fresh list (what vanished is forgotten). */
  syncPodIndexes(items: PodIndex[]): void {
    const names = new Set(items.map(pi => pi.metadata?.name));
    for (const name of [...this.views.list().map(v => v.name), ...this.status.names()]) {
      if (!names.has(name)) this.#forget(name);
    }
    for (const pi of items) this.applyPodIndex(pi);
  }

  #forget(name: string): void {
    this.status.forget(name);
    if (this.views.delete(name)) this.deps.log.info({ podindex: name }, "PodIndex removed");
  }

  async start(
    cfg: Pick<Config, "port" | "host" | "resyncSeconds" | "statusIntervalMs" | "trustedProxies">,
  ): Promise<{ port: number }> {
    this.status.intervalMs = cfg.statusIntervalMs;
    this.#server = buildServer({
      lookup: this.lookup,
      forwardAuth: new ForwardAuth(this.lookup, this.views, this.readiness, cfg.trustedProxies),
      readiness: this.readiness,
      podCount: () => this.cache.size,
      metrics: this.metrics,
      statuses: () => this.status.snapshot(),
      logger: this.deps.log,
    });
    const address = await this.#server.listen({ port: cfg.port, host: cfg.host });
    this.deps.log.info({ address }, "podindex lookup server listening");
    await this.#resyncPodIndexes();
    this.#resync = setInterval(() => void this.#resyncPodIndexes(), cfg.resyncSeconds * 1000);
    this.#startPodFeed(() => this.readiness.markSynced("pods"));
    const addr = this.#server.server.address();
    return { port: typeof addr === "object" && addr ? addr.port : cfg.port };
  }

  async stop(): Promise<void> {
    clearInterval(this.#resync);
    clearTimeout(this.#retry);
    await this.status.stop();
    this.#feed?.stop();
    this.#feed = undefined;
    await this.#server?.close();
    this.#server = undefined;
  }

  #startPodFeed(onSynced: () => void): void {
    const feed = this.deps.podFeed();
    this.#feed = feed;
    this.metrics.relists.inc({ kind: "pods" });
    feed
      .start({
        onEvent: (phase, pod) => {
          this.metrics.watchEvent("pods", phase);
          if (this.#degraded) {
            this.#degraded = undefined;
            this.status.markDirty();
          }
          if (phase === "DELETED") this.cache.remove(pod);
          else this.cache.upsert(pod);
        },
        onSynced,
        onError: err => {
          this.metrics.watchErrors.inc({ kind: "pods" });
          this.#degraded = `the pod watch failed (${err instanceof Error ? err.message : String(err)}); it relists and resumes by itself`;
          this.status.markDirty();
          this.deps.log.warn({ err }, "pod watch failed; it relists and resumes by itself");
        },
      })
      .catch(err => this.deps.log.error({ err }, "pod watch could not start"));
  }

  /** Re-read every pod (e.g. to pick up newly exposed annotations); lookups keep answering meanwhile. */
  #restartPodFeed(): void {
    this.#feed?.stop();
    this.cache.beginResync();
    this.#startPodFeed(() => {
      const gone = this.cache.endResync();
      this.deps.log.info({ removed: gone.length }, "pods re-read");
    });
  }

  #summaries() {
    return summarize(this.cache, this.views.list());
  }

  async #resyncPodIndexes(): Promise<void> {
    try {
      this.syncPodIndexes(await this.deps.listPodIndexes());
      this.metrics.relists.inc({ kind: "podindexes" });
      this.readiness.markSynced("podindexes");
    } catch (err) {
      // until the first list succeeds (e.g. the CRD is not installed yet) retry soon, not at the next resync
      const retry = this.readiness.waitingFor.includes("podindexes");
      this.deps.log.warn({ err }, `listing PodIndexes failed; retrying ${retry ? "in 5 s" : "at the next resync"}`);
      if (retry && this.#server) this.#retry = setTimeout(() => void this.#resyncPodIndexes(), 5000);
    }
  }
}
