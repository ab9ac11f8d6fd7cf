import { isValidUid, normalizeIp } from "./cache/ip";
import type { ServiceRef } from "./endpoints/endpoint-cache";
import type { ServiceLookup } from "./endpoints/service-lookup";
import { isDnsLabel } from "./names";
import type { MissReason, PodCache } from "./cache/pod-cache";
import { keyOf, PodOrder, type PodKey } from "./cache/pod-order";
import type { PodRecord } from "./cache/pod-record";
import { IDENTITY_KINDS, type Readiness, type Stale } from "./readiness";
import type { PodIndexView } from "./views/view";
import type { ViewSet } from "./views/view-set";

/**
 * A pod as one or more PodIndexes let it be seen: metadata filtered by their expose lists. Frozen,
 * and handed out again by every lookup of the same pod record through the same scope while neither
 * the PodIndexes nor the Services it backs changed: while it is the same object, it holds the same values.
 */
export interface ExposedPod {
  readonly record: PodRecord;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** the PodIndexes that select this pod (within the lookup's scope) */
  readonly indexes: readonly string[];
  /** the Services it backs now (their slices list it), among those these PodIndexes follow */
  readonly services: readonly (ServiceRef & { ready: boolean })[];
}

/** A lookup's scope: every PodIndex (key "") or the one named, and how it chooses a record's views. */
interface Scope {
  key: string;
  select: (rec: PodRecord) => PodIndexView[];
}

/** What a record shows through one scope, kept until the views change (a record never changes). */
interface Exposure {
  scope: string;
  /** the ViewSet's generation `views` were chosen in */
  generation: number;
  views: readonly PodIndexView[];
  /** the answer, made on first use */
  pod?: ExposedPod;
  /** the EndpointCache's generation the answer's Services were read in */
  servicesGeneration?: number;
}

const sameServices = (a: ExposedPod["services"], b: ExposedPod["services"]) =>
  a === b ||
  (a.length === b.length &&
    a.every((s, i) => s.namespace === b[i].namespace && s.name === b[i].name && s.ready === b[i].ready));

/** how many scopes' exposures are kept per record (a pod asked for by IP and by forward-auth uses two) */
const SCOPES_KEPT = 4;

export type LookupResult =
  | { kind: "hit"; pod: ExposedPod }
  | { kind: "miss"; reason: MissReason }
  | { kind: "conflict"; pods: ExposedPod[]; hidden: number }
  | { kind: "not-ready"; waitingFor: string[] }
  /** the cache is older than PODINDEX_MAX_STALENESS: no answer rather than a possibly wrong one */
  | { kind: "stale"; message: string; stale: Stale[] }
  | { kind: "bad-request"; message: string }
  | { kind: "index-not-found"; index: string; /** it exists but is not served: why */ refused?: string };

type Hit = Extract<LookupResult, { kind: "hit" }>;

export type ListResult =
  | Extract<LookupResult, { kind: "not-ready" | "stale" | "bad-request" | "index-not-found" }>
  | {
      kind: "list";
      pods: ExposedPod[];
      /** where the next page starts (after this key); absent on the last page */
      next?: PodKey;
    };

/** A page of a list walks at most this many pods (served or not): it may then hold fewer than its limit. */
export const LIST_SCAN_BUDGET = 20_000;

/**
 * Answers lookups from the cache through the views. Pure reads: it never changes the cache.
 * A lookup is scoped to one PodIndex when `index` is given, otherwise to every PodIndex; a pod
 * outside the scope is not served. Before every kind has been listed, nothing is answered; nor
 * when the pods or PodIndexes were last proved current longer ago than PODINDEX_MAX_STALENESS
 * (IP, UID and list lookups alike: each answers who a pod is, and IPs get reused meanwhile).
 */
export class PodLookup {
  #order: PodOrder | undefined;
  /** each record's last few exposures (one per scope asked): a record is replaced on every change, so they die with it */
  readonly #exposures = new WeakMap<PodRecord, Exposure[]>();
  readonly #everyIndex: Scope = { key: "", select: rec => this.views.servedBy(rec) };
  /**
   * By-IP hits, per scope key and IP (normalised), handed out again as they are: the next lookup of
   * the IP is then one Map lookup. An IP's are dropped when a pod listing it changes; all of them
   * when a PodIndex or a slice changes, or a record is replaced quietly (a re-list): the
   * generations they were made in.
   */
  readonly #hits = new Map<string, Map<string, Hit>>();
  #hitsViews = -1;
  #hitsServices = -1;
  #hitsReplaced = -1;

  constructor(
    private readonly cache: PodCache,
    private readonly views: ViewSet,
    private readonly readiness: Readiness,
    private readonly services?: ServiceLookup,
  ) {
    cache.onChange((prev, next) => {
      if (this.#hits.size === 0) return;
      for (const rec of [prev, next])
        for (const ip of rec?.podIPs ?? []) for (const hits of this.#hits.values()) hits.delete(ip);
    });
  }

  byIp(rawIp: string | undefined, index?: string): LookupResult {
    if (rawIp === undefined || rawIp === "") return { kind: "bad-request", message: "an IP address is required" };
    const unanswerable = this.#unanswerable();
    if (unanswerable) return unanswerable;
    // an IP spelt as normalised (as nearly every caller spells it) finds a kept hit
    const kept = this.#keptHits(index ?? "")?.get(rawIp);
    if (kept) return kept;
    const ip = normalizeIp(rawIp);
    if (ip === undefined) return { kind: "bad-request", message: `"${rawIp}" is not a valid IPv4 or IPv6 address` };
    return this.#inScope(index, scope => {
      const found = this.cache.lookupIp(ip, rec => this.#shown(rec, scope).views.length > 0);
      switch (found.result) {
        case "hit":
          return this.#keepHit(scope.key, ip, this.#pod(found.pod, this.#shown(found.pod, scope)));
        case "miss":
          return { kind: "miss", reason: found.reason };
        case "conflict": {
          const shown = found.pods.filter(rec => this.#shown(rec, scope).views.length > 0);
          return {
            kind: "conflict",
            pods: shown.map(rec => this.#pod(rec, this.#shown(rec, scope))),
            hidden: found.pods.length - shown.length,
          };
        }
      }
    });
  }

  byUid(rawUid: string | undefined, index?: string): LookupResult {
    if (rawUid === undefined || rawUid === "") return { kind: "bad-request", message: "a pod UID is required" };
    if (!isValidUid(rawUid)) return { kind: "bad-request", message: `"${rawUid}" is not a valid pod UID` };
    return this.#scoped(index, scope => {
      const rec = this.cache.byUid(rawUid.toLowerCase());
      const shown = rec && this.#shown(rec, scope);
      return rec && shown && shown.views.length > 0
        ? { kind: "hit", pod: this.#pod(rec, shown) }
        : { kind: "miss", reason: "unknown" };
    });
  }

  /**
   * One page of the served pods, in namespace/name order: at most `limit` of them, after the key
   * `after` (where the previous page stopped). O(log n + pods walked), the walk bounded by
   * LIST_SCAN_BUDGET; `next` says where the next page starts.
   */
  list(filter: { namespace?: string; index?: string; limit: number; after?: PodKey }): ListResult {
    const { namespace, limit } = filter;
    if (namespace !== undefined && namespace !== "" && !isDnsLabel(namespace)) {
      return { kind: "bad-request", message: `"${namespace}" is not a valid namespace name` };
    }
    return this.#scoped(filter.index, scope => {
      // built on first use: one pass over the cache, then kept by its changes
      this.#order ??= new PodOrder(this.cache);
      // a namespace's first pod sorts after [namespace, "", ""] (names are never empty)
      const after: PodKey | undefined =
        namespace && (!filter.after || filter.after[0] < namespace) ? [namespace, "", ""] : filter.after;
      const pods: ExposedPod[] = [];
      let walked = 0;
      let last: PodRecord | undefined;
      for (const rec of this.#order.after(after)) {
        if (namespace && rec.namespace !== namespace) break;
        if (pods.length === limit || walked === LIST_SCAN_BUDGET) return { kind: "list", pods, next: keyOf(last!) };
        walked++;
        last = rec;
        const shown = this.#shown(rec, scope, false);
        if (shown.views.length > 0) pods.push(this.#pod(rec, shown));
      }
      return { kind: "list", pods };
    });
  }

  /**
   * The record's views in this scope. A lookup of one pod keeps them (and the answer made from
   * them) for the next lookup of it (`keep`); a list does not, lest one list of every pod hold an
   * exposure of every pod.
   */
  #shown(record: PodRecord, scope: Scope, keep = true): Exposure {
    const generation = this.views.generation;
    const kept = keep ? this.#exposures.get(record) : undefined;
    let shown = kept?.find(e => e.scope === scope.key && e.generation === generation);
    if (!shown) {
      shown = { scope: scope.key, generation, views: scope.select(record) };
      if (keep) {
        if (!kept) this.#exposures.set(record, [shown]);
        else if (kept.unshift(shown) > SCOPES_KEPT) kept.pop();
      }
    }
    return shown;
  }

  /**
   * The record as its exposure shows it: made once. After any slice event its Services are read
   * again, and a new answer is made only when they differ (a slice changes far more often than the
   * Services one pod backs).
   */
  #pod(record: PodRecord, shown: Exposure): ExposedPod {
    const generation = this.services?.generation ?? 0;
    const made = shown.pod;
    if (made && shown.servicesGeneration === generation) return made;
    const services = this.services?.servicesOf(record.uid, shown.views) ?? [];
    shown.servicesGeneration = generation;
    if (made && sameServices(made.services, services)) return made;
    if (made) return (shown.pod = Object.freeze({ ...made, services }));
    const labels: Record<string, string> = {};
    const annotations: Record<string, string> = {};
    for (const view of shown.views) {
      Object.assign(labels, view.labelsFor(record));
      Object.assign(annotations, view.annotationsFor(record));
    }
    return (shown.pod = Object.freeze({
      record,
      labels: Object.freeze(labels),
      annotations: Object.freeze(annotations),
      indexes: Object.freeze(shown.views.map(v => v.name)),
      services,
    }));
  }

  /** The by-IP hits kept for this scope, once any kept in other generations are dropped. */
  #keptHits(scope: string): Map<string, Hit> | undefined {
    const views = this.views.generation;
    const services = this.services?.generation ?? 0;
    const replaced = this.cache.quietReplacements;
    if (views !== this.#hitsViews || services !== this.#hitsServices || replaced !== this.#hitsReplaced) {
      this.#hits.clear();
      this.#hitsViews = views;
      this.#hitsServices = services;
      this.#hitsReplaced = replaced;
    }
    return this.#hits.get(scope);
  }

  #keepHit(scope: string, ip: string, pod: ExposedPod): Hit {
    const hit: Hit = Object.freeze({ kind: "hit", pod });
    let hits = this.#keptHits(scope);
    if (!hits) this.#hits.set(scope, (hits = new Map()));
    hits.set(ip, hit);
    return hit;
  }

  /** Why no lookup can be answered now (not every kind listed yet, or the cache too old), if so. */
  #unanswerable(): Extract<LookupResult, { kind: "not-ready" | "stale" }> | undefined {
    if (!this.readiness.ready) return { kind: "not-ready", waitingFor: this.readiness.waitingFor };
    if (this.readiness.fresh(IDENTITY_KINDS)) return undefined;
    const stale = this.readiness.stale(IDENTITY_KINDS);
    return { kind: "stale", message: this.readiness.staleReason(IDENTITY_KINDS)!, stale };
  }

  #scoped<R extends { kind: string }>(
    index: string | undefined,
    answer: (scope: Scope) => R,
  ): R | Extract<LookupResult, { kind: "not-ready" | "stale" | "index-not-found" }> {
    return this.#unanswerable() ?? this.#inScope(index, answer);
  }

  /** `answer` in the scope `index` names (every PodIndex when none), or why that scope does not exist. */
  #inScope<R extends { kind: string }>(
    index: string | undefined,
    answer: (scope: Scope) => R,
  ): R | Extract<LookupResult, { kind: "index-not-found" }> {
    if (index === undefined || index === "") return answer(this.#everyIndex);
    const view = this.views.get(index);
    if (!view) return { kind: "index-not-found", index, refused: this.views.refusal(index) };
    return answer({ key: index, select: rec => (view.selects(rec) ? [view] : []) });
  }
}
