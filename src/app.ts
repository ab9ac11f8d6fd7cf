import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { PodCache } from "./cache/pod-cache";
import type { PodLike } from "./cache/pod-record";
import { DEFAULT_MAX_STALENESS_SECONDS, type Config } from "./config";
import { EndpointCache } from "./endpoints/endpoint-cache";
import { ServiceLookup } from "./endpoints/service-lookup";
import type { SliceLike } from "./endpoints/slice-record";
import { EventRecorder, type EmitEvent } from "./events";
import type { FeedOptions, ObjectFeed } from "./feed/object-feed";
import { ForwardAuth } from "./forward-auth/authorize";
import { buildServer } from "./http/server";
import type { PodIndex, PodIndexStatus } from "./kinds/podindex";
import { LeaseElector } from "./leader/lease-elector";
import { PodLookup } from "./lookup";
import type { Leadership } from "./manager/leadership";
import { Manager } from "./manager/manager";
import type { Runnable } from "./manager/runnable";
import { Metrics } from "./metrics";
import { Readiness } from "./readiness";
import { Mirrors, type MirrorsDeps } from "./sinks/mirrors";
import { SpecError } from "./spec/selector";
import { Degraded } from "./status/degraded";
import { StatusWriter } from "./status/status-writer";
import { IndexSummaries } from "./status/summary";
import { FeedRunner } from "./sync/feed-runner";
import { PodIndexResync } from "./sync/podindex-resync";
import { PodIndexSet, type PodIndexList } from "./views/podindex-set";
import { PodIndexView } from "./views/view";
import { ViewSet } from "./views/view-set";

export interface AppDeps {
  log: Logger;
  /** a fresh pod feed each time the pod stream (re)starts */
  podFeed: (opts: FeedOptions) => ObjectFeed<PodLike>;
  /** one full list of PodIndex objects and its resourceVersion (the startup seed and the periodic safety list) */
  listPodIndexes: () => Promise<PodIndexList>;
  /** write a PodIndex's status through its status subresource */
  writeStatus: (name: string, status: PodIndexStatus) => Promise<void>;
  /** a fresh EndpointSlice feed (one stream for every PodIndex's spec.services) */
  sliceFeed: (opts: FeedOptions) => ObjectFeed<SliceLike>;
  /** a Secret's data, decoded (the PostgreSQL mirror's connection settings) */
  readSecret: (namespace: string, name: string) => Promise<Record<string, string>>;
  /** create a Kubernetes Event about a PodIndex */
  emitEvent: EmitEvent;
  /**
   * whether this replica leads, i.e. writes status and Events and runs the mirrors (default:
   * AlwaysLeader, a single replica); every replica serves lookups
   */
  leadership?: Leadership;
  /** the mirrors' timings (tests shorten them) */
  mirrorTimings?: MirrorsDeps["timings"];
  /** the clock staleness is measured with (ms since the epoch; tests inject one) */
  now?: () => number;
}

/** What a start() needs: the configuration, where tests may leave out what has a default. */
export type StartConfig = Pick<Config, "port" | "host" | "resyncSeconds" | "statusIntervalMs" | "trustedProxies"> &
  Partial<Pick<Config, "defaultService" | "maxStalenessSeconds" | "watchIdleSeconds" | "lease">>;

/** The lookup server as a runnable: listens at start, closes at stop (requests in flight finish). */
class LookupServer implements Runnable {
  readonly name = "lookup server";
  #server: FastifyInstance | undefined;
  /** the configuration start() listens with (the app sets it) */
  cfg: StartConfig | undefined;
  /** the port it listens on, once started */
  port = 0;

  constructor(
    private readonly build: (cfg: StartConfig) => FastifyInstance,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const cfg = this.cfg;
    if (!cfg) throw new Error("the lookup server has no configuration");
    this.#server = this.build(cfg);
    const address = await this.#server.listen({ port: cfg.port, host: cfg.host });
    this.log.info({ address }, "podindex lookup server listening");
    const addr = this.#server.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : cfg.port;
  }

  async stop(): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
  }
}

/**
 * The running podindex, wired: one pod cache, the views (one per PodIndex) over it, and the
 * runnables a Manager starts: on every replica the lookup server, the PodIndex lists, the stale
 * checker and the pod and EndpointSlice feeds; on the leader only the Event recorder, the status
 * writer and the PostgreSQL mirrors. Bindings hand it PodIndex events. Constructing it starts
 * nothing (so `pepr build` can import it); start() does.
 */
export class PodIndexApp {
  readonly views = new ViewSet();
  readonly cache = new PodCache({ keepAnnotation: key => this.views.annotationKeys().has(key) });
  readonly endpoints = new EndpointCache();
  readonly readiness: Readiness;
  readonly services: ServiceLookup;
  readonly lookup: PodLookup;
  readonly metrics: Metrics;
  readonly status: StatusWriter;
  readonly events: EventRecorder;
  readonly mirrors: Mirrors;
  readonly #degraded: Degraded;
  readonly #manager: Manager;
  readonly #server: LookupServer;
  readonly #resync: PodIndexResync;
  readonly #podFeed: FeedRunner<PodLike>;
  readonly #sliceFeed: FeedRunner<SliceLike>;
  /** which object holds each PodIndex name: drops events and lists older than what it holds */
  readonly #podIndexes = new PodIndexSet({ apply: pi => this.#applyPodIndex(pi), forget: name => this.#forget(name) });

  constructor(private readonly deps: AppDeps) {
    const { log } = deps;
    this.readiness = new Readiness([], deps.now);
    this.services = new ServiceLookup(this.endpoints, this.views, this.readiness);
    this.lookup = new PodLookup(this.cache, this.views, this.readiness, this.services);
    const counts = new IndexSummaries({
      cache: this.cache,
      endpoints: this.endpoints,
      views: this.views,
      ready: () => this.readiness.ready,
    });
    this.metrics = new Metrics({
      pods: () => this.cache.size,
      summaries: () => counts.summaries(),
      sinks: () => this.mirrors.healths(),
      staleness: () => this.readiness.stalenessByKind(),
      maxStalenessMs: () => this.readiness.maxStalenessMs,
      leading: () => this.leading,
      now: deps.now,
    });
    this.#degraded = new Degraded({ readiness: this.readiness, log, changed: () => this.status.markDirty() });
    this.events = new EventRecorder(deps.emitEvent, log);
    this.status = new StatusWriter({
      log,
      write: (name, status) => deps.writeStatus(name, status),
      summaries: () => counts.summaries(),
      degraded: () => this.#degraded.reason(),
      sink: name => this.mirrors.health(name),
      ready: () => this.readiness.ready,
      onWrite: podindex => this.metrics.statusWrites.inc({ podindex }),
    });
    this.mirrors = new Mirrors({
      views: this.views,
      services: this.services,
      readSecret: deps.readSecret,
      log,
      onHealth: (view, health) => {
        this.status.markDirty();
        if (health.reason === "Connecting") return;
        this.events.record(
          { name: view.name, uid: view.uid },
          health.ready
            ? { type: "Normal", reason: "SinkSynced", message: health.message }
            : { type: "Warning", reason: health.reason, message: `PostgreSQL mirror: ${health.message}` },
        );
      },
      onWrite: (podindex, ok) => this.metrics.sinkWrites.inc({ podindex, result: ok ? "ok" : "error" }),
      timings: deps.mirrorTimings,
    });
    this.cache.onChange(() => this.status.markDirty());
    this.endpoints.onChange(service => {
      this.status.markDirty();
      this.mirrors.markDirty(service);
    });

    this.#server = new LookupServer(
      cfg =>
        buildServer({
          lookup: this.lookup,
          forwardAuth: new ForwardAuth(this.lookup, this.views, this.readiness, cfg.trustedProxies),
          services: this.services,
          defaultService: cfg.defaultService,
          readiness: this.readiness,
          podCount: () => this.cache.size,
          metrics: this.metrics,
          statuses: () => this.status.snapshot(),
          logger: log,
        }),
      log,
    );
    this.#resync = new PodIndexResync({
      list: deps.listPodIndexes,
      apply: list => this.syncPodIndexes(list),
      readiness: this.readiness,
      metrics: this.metrics,
      log,
    });
    const feed = { readiness: this.readiness, metrics: this.metrics, degraded: this.#degraded, log };
    // the apiserver is back: PodIndex changes made meanwhile apply now, not when Pepr's watches reconnect
    const onRecovered = () => void this.#resync.resync();
    this.#podFeed = new FeedRunner({
      ...feed,
      kind: "pods",
      feed: deps.podFeed,
      apply: (phase, pod) => (phase === "DELETED" ? this.cache.remove(pod) : this.cache.upsert(pod)),
      onRecovered,
    });
    this.#sliceFeed = new FeedRunner({
      ...feed,
      kind: "endpointslices",
      feed: deps.sliceFeed,
      apply: (phase, slice) => (phase === "DELETED" ? this.endpoints.remove(slice) : this.endpoints.upsert(slice)),
      onRecovered,
      onSynced: () => this.mirrors.slicesListed(),
    });

    this.#manager = new Manager({
      log,
      leadership: deps.leadership,
      registerReadiness: kind => this.readiness.register(kind),
    });
    // every replica, in this order: the first PodIndex list is in before the pods are read
    for (const r of [this.#server, this.#resync, this.#degraded, this.#podFeed, this.#sliceFeed]) this.#manager.add(r);
    // the leader only
    for (const r of [this.events, this.status, this.mirrors]) this.#manager.add(r);
  }

  /** whether this replica leads: writes status and Events, runs the mirrors */
  get leading(): boolean {
    return this.#manager.leading;
  }

  /** A PodIndex was created or changed (a watch event): applied unless older than what is held. */
  applyPodIndex(pi: PodIndex): void {
    this.readiness.markFresh("podindexes");
    this.#podIndexes.changed(pi);
  }

  /** A PodIndex was deleted (a watch event): its view goes, unless the name already belongs to a newer object. */
  removePodIndex(pi: PodIndex): void {
    this.readiness.markFresh("podindexes");
    this.#podIndexes.deleted(pi);
  }

  /** A full list of PodIndexes: what it holds newer is applied, what vanished before it is forgotten. */
  syncPodIndexes(list: PodIndexList): boolean {
    return this.#podIndexes.listed(list);
  }

  async start(cfg: StartConfig): Promise<{ port: number }> {
    this.status.intervalMs = cfg.statusIntervalMs;
    this.readiness.maxStalenessMs = (cfg.maxStalenessSeconds ?? DEFAULT_MAX_STALENESS_SECONDS) * 1000;
    // the configured idle timeout, else the feed's own default
    const options = cfg.watchIdleSeconds !== undefined ? { idleTimeoutMs: cfg.watchIdleSeconds * 1000 } : {};
    this.#podFeed.options = this.#sliceFeed.options = options;
    this.#resync.intervalMs = cfg.resyncSeconds * 1000;
    this.#server.cfg = cfg;
    // a Lease decides who writes, unless the deps chose a Leadership (tests, a single replica)
    if (cfg.lease && !this.deps.leadership)
      this.#manager.useLeadership(new LeaseElector({ ...cfg.lease, log: this.deps.log }));
    await this.#manager.start();
    return { port: this.#server.port };
  }

  /** Stop the leader-only runnables, give leadership up, then stop the feeds and close the server. */
  stop(): Promise<void> {
    return this.#manager.stop();
  }

  /** (Re)build a PodIndex's view. Invalid specs stop serving it. */
  #applyPodIndex(pi: PodIndex): void {
    const name = pi.metadata?.name;
    if (!name) return;
    const current = this.views.get(name);
    // Status writes and resyncs deliver the same object generation again: nothing to do.
    if (current && current.uid === (pi.metadata?.uid ?? "") && current.generation === (pi.metadata?.generation ?? 0))
      return;
    const knownKeys = this.views.annotationKeys();
    try {
      this.views.set(PodIndexView.fromResource(pi));
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      this.views.refuse(name, err.message);
      this.mirrors.reconcile();
      this.status.track(pi, err);
      this.events.record(
        { name, uid: pi.metadata?.uid ?? "" },
        { type: "Warning", reason: err.reason, message: `not served: ${err.message}` },
      );
      this.deps.log.error(
        { podindex: name, reason: err.reason, err: err.message },
        "PodIndex spec is invalid; not serving it",
      );
      return;
    }
    this.mirrors.reconcile();
    this.status.track(pi);
    this.deps.log.info({ podindex: name, generation: pi.metadata?.generation }, "PodIndex applied");
    const added = [...this.views.annotationKeys()].filter(k => !knownKeys.has(k));
    if (added.length > 0 && this.#podFeed.running) {
      this.deps.log.info({ podindex: name, annotations: added }, "new annotation keys exposed: re-reading pods");
      // lookups keep answering meanwhile
      this.cache.beginResync();
      this.#podFeed.restart(() => {
        const gone = this.cache.endResync();
        this.deps.log.info({ removed: gone.length }, "pods re-read");
      });
    }
  }

  #forget(name: string): void {
    this.status.forget(name);
    if (this.views.delete(name)) this.deps.log.info({ podindex: name }, "PodIndex removed");
    this.mirrors.reconcile();
  }
}
