import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { PodCache } from "./cache/pod-cache";
import type { PodLike } from "./cache/pod-record";
import { DEFAULT_MAX_STALENESS_SECONDS, type Config } from "./config";
import { EndpointCache } from "./endpoints/endpoint-cache";
import { ServiceLookup } from "./endpoints/service-lookup";
import type { SliceLike } from "./endpoints/slice-record";
import type { FeedHandlers, FeedOptions, FeedPhase, ObjectFeed } from "./feed/object-feed";
import { ForwardAuth } from "./forward-auth/authorize";
import { buildServer } from "./http/server";
import type { PodIndex, PodIndexStatus } from "./kinds/podindex";
import { PodLookup } from "./lookup";
import { EventRecorder, type EmitEvent } from "./events";
import { Metrics } from "./metrics";
import { IDENTITY_KINDS, Readiness } from "./readiness";
import { poolConfigFromSecret } from "./sinks/pg-connection";
import { PostgresMirror, mirrorTarget } from "./sinks/postgres-mirror";
import { StatusWriter } from "./status/status-writer";
import { IndexSummaries } from "./status/summary";
import { SpecError } from "./views/selector";
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
  /** the clock staleness is measured with (ms since the epoch; tests inject one) */
  now?: () => number;
}

/** What a start() needs: the configuration, where tests may leave out what has a default. */
export type StartConfig = Pick<Config, "port" | "host" | "resyncSeconds" | "statusIntervalMs" | "trustedProxies"> &
  Partial<Pick<Config, "defaultService" | "maxStalenessSeconds" | "watchIdleSeconds">>;

/** how soon a failed first PodIndex list is retried */
const RETRY_MS = 2000;

interface Mirror {
  /** what it was built from: a changed spec or a recreated PodIndex builds a new one */
  signature: string;
  mirror: PostgresMirror;
  started: boolean;
  /** the mirror it replaces, stopping: this one starts only once that one wrote its last */
  after: Promise<void>;
}

/**
 * The running podindex: one pod cache, the views (one per PodIndex) over it, and the lookup server.
 * Bindings hand it PodIndex events; its pod feed hands the cache pod events. Constructing it
 * starts nothing (so `pepr build` can import it); start() does.
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
  readonly #counts: IndexSummaries;
  /** why a watch is failing, by kind */
  readonly #degraded = new Map<string, string>();
  #feed: ObjectFeed<PodLike> | undefined;
  #sliceFeed: ObjectFeed<SliceLike> | undefined;
  readonly #mirrors = new Map<string, Mirror>();
  #server: FastifyInstance | undefined;
  #resync: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  /** watches for kinds turning stale or fresh again, to update the Degraded condition */
  #staleCheck: NodeJS.Timeout | undefined;
  /** the stale kinds at the last check, and every set a Degraded computation saw since */
  #staleSeen = new Set([""]);
  #staleKinds = "";
  /** what each feed is started with: the configured idle timeout, else the feed's own default */
  #feedOptions: FeedOptions = {};
  /** which object holds each PodIndex name: drops events and lists older than what it holds */
  readonly #podIndexes = new PodIndexSet({ apply: pi => this.#applyPodIndex(pi), forget: name => this.#forget(name) });
  /** the PodIndex list in flight, and whether another was asked for meanwhile */
  #listing: Promise<void> | undefined;
  #listAgain = false;

  constructor(private readonly deps: AppDeps) {
    this.readiness = new Readiness(["pods", "podindexes", "endpointslices"], deps.now);
    this.services = new ServiceLookup(this.endpoints, this.views, this.readiness);
    this.lookup = new PodLookup(this.cache, this.views, this.readiness, this.services);
    this.#counts = new IndexSummaries({
      cache: this.cache,
      endpoints: this.endpoints,
      views: this.views,
      ready: () => this.readiness.ready,
    });
    this.metrics = new Metrics({
      pods: () => this.cache.size,
      summaries: () => this.#summaries(),
      sinks: () => new Map([...this.#mirrors].map(([name, m]) => [name, m.mirror.health()])),
      staleness: () => this.readiness.stalenessByKind(),
      maxStalenessMs: () => this.readiness.maxStalenessMs,
      now: deps.now,
    });
    this.events = new EventRecorder(deps.emitEvent, deps.log);
    this.status = new StatusWriter({
      log: deps.log,
      write: (name, status) => deps.writeStatus(name, status),
      summaries: () => this.#summaries(),
      degraded: () => {
        const why = [...this.#degraded.values()];
        const stale = this.readiness.stale();
        this.#staleSeen.add(stale.map(s => s.kind).join(","));
        if (stale.length > 0) {
          const gates = stale.some(s => (IDENTITY_KINDS as readonly string[]).includes(s.kind));
          why.push(
            `the cache of ${stale.map(s => s.kind).join(", ")} is older than PODINDEX_MAX_STALENESS ` +
              `(${Math.floor(this.readiness.maxStalenessMs / 1000)} s)` +
              (gates ? ": IP and UID lookups and forward-auth answer 503 Stale" : ""),
          );
        }
        return why.length ? why.join("; ") : undefined;
      },
      sink: name => this.#mirrors.get(name)?.mirror.health(),
      ready: () => this.readiness.ready,
      onWrite: podindex => this.metrics.statusWrites.inc({ podindex }),
    });
    this.cache.onChange(() => this.status.markDirty());
    this.endpoints.onChange(service => {
      this.status.markDirty();
      for (const [name, m] of this.#mirrors) {
        const ns = this.views.get(name)?.namespaces;
        if (!ns || ns.has(service.namespace)) m.mirror.markDirty(service);
      }
    });
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
      const view = PodIndexView.fromResource(pi);
      this.views.set(view);
      this.#syncMirror(view);
      this.status.track(pi);
      this.deps.log.info({ podindex: name, generation: pi.metadata?.generation }, "PodIndex applied");
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      this.views.refuse(name, err.message);
      void this.#dropMirror(name);
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
    const added = [...this.views.annotationKeys()].filter(k => !knownKeys.has(k));
    if (added.length > 0 && this.#feed) {
      this.deps.log.info({ podindex: name, annotations: added }, "new annotation keys exposed: re-reading pods");
      this.#restartPodFeed();
    }
  }

  #forget(name: string): void {
    void this.#dropMirror(name);
    this.status.forget(name);
    if (this.views.delete(name)) this.deps.log.info({ podindex: name }, "PodIndex removed");
  }

  /**
   * Start, replace or stop the PostgreSQL mirror of a PodIndex as its spec.services.postgres says.
   * A (table, cluster) pair belongs to one PodIndex, the first by name among those naming it (each
   * one's full resync would delete the other's rows): the others get a mirror that reports TableInUse.
   */
  #syncMirror(view: PodIndexView): void {
    const pg = view.postgres;
    const target = pg ? mirrorTarget(pg.table!, pg.cluster!) : undefined;
    const sharing = this.views
      .list()
      .filter(v => target && v.postgres && mirrorTarget(v.postgres.table!, v.postgres.cluster!) === target);
    const owner = sharing.map(v => v.name).sort()[0];
    const claimedBy = owner !== view.name ? owner : undefined;
    // any new generation builds a new mirror (its first write is a full resync under the new spec)
    const signature = pg ? JSON.stringify([view.uid, view.generation, claimedBy ?? null]) : "";
    const current = this.#mirrors.get(view.name);
    if (current?.signature === signature) return;
    const after = this.#dropMirror(view.name);
    if (!pg) return;
    const secret = `${pg.secretRef.namespace}/${pg.secretRef.name}`;
    const mirror = new PostgresMirror({
      connection: async () =>
        poolConfigFromSecret(await this.deps.readSecret(pg.secretRef.namespace, pg.secretRef.name), secret),
      table: pg.table!,
      cluster: pg.cluster!,
      createSchema: pg.createSchema,
      claimedBy,
      desired: service =>
        this.services.readyPods(view, service).map(e => ({
          namespace: service.namespace,
          service: service.name,
          podUid: e.pod.uid,
          podName: e.pod.name,
          podIp: e.addresses[0],
          ready: true,
        })),
      desiredServices: () => this.services.followed(view),
      log: this.deps.log.child({ podindex: view.name, sink: "postgres" }),
      onHealth: health => {
        this.deps.log.info({ podindex: view.name, ...health }, "PostgreSQL mirror health changed");
        this.status.markDirty();
        if (health.reason === "Connecting") return;
        this.events.record(
          { name: view.name, uid: view.uid },
          health.ready
            ? { type: "Normal", reason: "SinkSynced", message: health.message }
            : { type: "Warning", reason: health.reason, message: `PostgreSQL mirror: ${health.message}` },
        );
      },
      onWrite: ok => this.metrics.sinkWrites.inc({ podindex: view.name, result: ok ? "ok" : "error" }),
    });
    const entry = { signature, mirror, started: false, after };
    this.#mirrors.set(view.name, entry);
    // the others naming this pair: one that sorts after this PodIndex is refused now
    for (const other of sharing) if (other.name !== view.name) this.#syncMirror(other);
    this.#startMirrors();
  }

  /** Mirrors start once the EndpointSlices are listed: a full resync before that would empty their tables. */
  #startMirrors(): void {
    if (this.readiness.waitingFor.includes("endpointslices")) return;
    for (const m of this.#mirrors.values()) {
      if (m.started) continue;
      m.started = true;
      void m.after.then(() => m.mirror.start());
    }
  }

  /** Stop a PodIndex's mirror; resolves once it has written its last. */
  #dropMirror(name: string): Promise<void> {
    const m = this.#mirrors.get(name);
    if (!m) return Promise.resolve();
    this.#mirrors.delete(name);
    // a PodIndex refused because this one held its (table, cluster) may take the pair over; once the
    // caller is done (the view of a PodIndex being forgotten is deleted after this)
    queueMicrotask(() => {
      for (const view of this.views.list()) if (view.postgres && view.name !== name) this.#syncMirror(view);
    });
    return m.mirror.stop();
  }

  async start(cfg: StartConfig): Promise<{ port: number }> {
    this.status.intervalMs = cfg.statusIntervalMs;
    this.readiness.maxStalenessMs = (cfg.maxStalenessSeconds ?? DEFAULT_MAX_STALENESS_SECONDS) * 1000;
    if (cfg.watchIdleSeconds !== undefined) this.#feedOptions = { idleTimeoutMs: cfg.watchIdleSeconds * 1000 };
    this.#server = buildServer({
      lookup: this.lookup,
      forwardAuth: new ForwardAuth(this.lookup, this.views, this.readiness, cfg.trustedProxies),
      services: this.services,
      defaultService: cfg.defaultService,
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
    this.#staleCheck = setInterval(() => this.#checkStale(), Math.min(1000, this.readiness.maxStalenessMs / 2));
    this.#startPodFeed();
    this.#sliceFeed = this.#runFeed("endpointslices", this.deps.sliceFeed(this.#feedOptions), {
      apply: (phase, slice) => (phase === "DELETED" ? this.endpoints.remove(slice) : this.endpoints.upsert(slice)),
      onSynced: () => {
        this.readiness.markSynced("endpointslices");
        this.#startMirrors();
      },
    });
    const addr = this.#server.server.address();
    return { port: typeof addr === "object" && addr ? addr.port : cfg.port };
  }

  async stop(): Promise<void> {
    clearInterval(this.#resync);
    clearInterval(this.#staleCheck);
    clearTimeout(this.#retry);
    await this.status.stop();
    this.#feed?.stop();
    this.#feed = undefined;
    this.#sliceFeed?.stop();
    this.#sliceFeed = undefined;
    await Promise.all([...this.#mirrors.keys()].map(name => this.#mirrors.get(name)!.mirror.stop()));
    this.#mirrors.clear();
    await this.#server?.close();
    this.#server = undefined;
  }

  /** Start the pod feed; `afterSync` runs once its list is in (a restart's end of the re-read). */
  #startPodFeed(afterSync?: () => void): void {
    this.#feed = this.#runFeed("pods", this.deps.podFeed(this.#feedOptions), {
      apply: (phase, pod) => (phase === "DELETED" ? this.cache.remove(pod) : this.cache.upsert(pod)),
      onSynced: () => {
        afterSync?.();
        // also after a restart: the feed it replaced may have been stopped before its first list was in
        this.readiness.markSynced("pods");
      },
    });
  }

  /**
   * Run one feed: apply its events, count them, note each proof of freshness, and report its
   * failures as Degraded until it recovers.
   */
  #runFeed<T>(
    kind: string,
    feed: ObjectFeed<T>,
    on: { apply: (phase: FeedPhase, obj: T) => void; onSynced: () => void },
  ): ObjectFeed<T> {
    this.metrics.relists.inc({ kind });
    const handlers: FeedHandlers<T> = {
      onEvent: (phase, obj) => {
        this.metrics.watchEvent(kind, phase);
        if (this.#degraded.delete(kind)) this.status.markDirty();
        on.apply(phase, obj);
      },
      onSynced: on.onSynced,
      onFresh: () => this.readiness.markFresh(kind),
      onSkipped: (phase, obj, err) => {
        this.metrics.watchSkipped.inc({ kind });
        const m = (obj as { metadata?: { namespace?: string; name?: string; uid?: string } }).metadata;
        this.deps.log.warn(
          { err, kind, phase, namespace: m?.namespace, name: m?.name, uid: m?.uid },
          "could not apply a watched object; skipped it",
        );
      },
      onRecovered: () => {
        if (this.#degraded.delete(kind)) this.status.markDirty();
        this.deps.log.info({ kind }, "watch recovered");
        // the apiserver is back: PodIndex changes made meanwhile apply now, not when Pepr's watches reconnect
        void this.#resyncPodIndexes();
      },
      onError: err => {
        this.metrics.watchErrors.inc({ kind });
        this.#degraded.set(
          kind,
          `the ${kind} watch failed (${err instanceof Error ? err.message : String(err)}); it relists and resumes by itself`,
        );
        this.status.markDirty();
        this.deps.log.warn({ err, kind }, "watch failed; it relists and resumes by itself");
      },
    };
    feed.start(handlers).catch(err => this.deps.log.error({ err, kind }, "watch could not start"));
    return feed;
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

  /**
   * A kind turned stale or fresh again: the Degraded condition changes, and the log says so. Any
   * status computed since the last check with other stale kinds than now (a write in between may
   * have caught a state this check never saw) is recomputed too.
   */
  #checkStale(): void {
    const stale = this.readiness.stale();
    const kinds = stale.map(s => s.kind).join(",");
    this.#staleSeen.add(kinds);
    if (this.#staleSeen.size > 1) this.status.markDirty();
    this.#staleSeen = new Set([kinds]);
    if (kinds === this.#staleKinds) return;
    this.#staleKinds = kinds;
    if (stale.length > 0) this.deps.log.warn({ stale }, this.readiness.staleReason()!);
    else this.deps.log.info("every cache is fresh again");
  }

  #summaries() {
    return this.#counts.summaries();
  }

  /** List every PodIndex and apply the list; one list at a time (one asked for meanwhile runs next). */
  #resyncPodIndexes(): Promise<void> {
    if (this.#listing) {
      this.#listAgain = true;
      return this.#listing;
    }
    this.#listing = (async () => {
      do {
        this.#listAgain = false;
        await this.#listPodIndexes();
      } while (this.#listAgain && this.#server);
      this.#listing = undefined;
    })();
    return this.#listing;
  }

  async #listPodIndexes(): Promise<void> {
    try {
      // an older list than one already applied proves nothing
      if (!this.syncPodIndexes(await this.deps.listPodIndexes())) return;
      this.metrics.relists.inc({ kind: "podindexes" });
      this.readiness.markSynced("podindexes");
    } catch (err) {
      // until the first list succeeds (e.g. the CRD is not installed yet) retry soon, not at the next resync
      const waiting = this.readiness.waitingFor.includes("podindexes");
      const why = err instanceof Error ? err.message : String(err);
      if (waiting) this.readiness.explain("podindexes", `${why}; retrying every ${RETRY_MS / 1000} s`);
      this.deps.log.warn(
        { err },
        `listing PodIndexes failed; retrying ${waiting ? `in ${RETRY_MS / 1000} s` : "at the next resync"}`,
      );
      if (waiting && this.#server) {
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => void this.#resyncPodIndexes(), RETRY_MS);
      }
    }
  }
}
