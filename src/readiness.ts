/** The kinds identity answers (IP and UID lookups, forward-auth) are computed from: the pods and the PodIndexes' policy. */
export const IDENTITY_KINDS = ["pods", "podindexes"] as const;

/** A kind whose cache has gone unproved for longer than the bound. */
export interface Stale {
  kind: string;
  /** seconds since the apiserver last proved it current, rounded up */
  seconds: number;
}

/**
 * Which kinds have had their initial list applied, and when the apiserver last proved each kind's
 * cache fresh. /readyz, /ready and every lookup consult it: before the first list of every kind is
 * in, an answer could be wrong, so none is given; past `maxStalenessMs` without a proof, neither.
 */
export class Readiness {
  readonly #kinds: string[];
  readonly #pending: Set<string>;
  /** kind → when (ms since the epoch) the apiserver last proved its cache fresh */
  readonly #fresh = new Map<string, number>();
  /** kind → why its initial list is not in yet (e.g. its CRD is not installed) */
  readonly #why = new Map<string, string>();
  /**
   * Shutting down (src/shutdown.ts): /readyz and /ready answer 503 so that traffic moves elsewhere,
   * while lookups, which do not consult it, keep answering until the server closes.
   */
  draining = false;

  constructor(
    kinds: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.#kinds = [...kinds];
    this.#pending = new Set(kinds);
  }

  /** Add a kind that must be listed before any answer is given (a runnable's, see src/manager). */
  register(kind: string): void {
    if (this.#kinds.includes(kind)) throw new Error(`readiness kind ${kind} registered twice`);
    this.#kinds.push(kind);
    this.#pending.add(kind);
  }

  /** how long (ms) a kind may go without a proof of freshness before it counts as stale (PODINDEX_MAX_STALENESS) */
  maxStalenessMs = Infinity;

  markSynced(kind: string): void {
    this.#pending.delete(kind);
    this.#why.delete(kind);
    this.markFresh(kind);
  }

  /** The apiserver just proved this kind's cache current (an event, a bookmark, a completed list). */
  markFresh(kind: string): void {
    this.#fresh.set(kind, this.now());
  }

  /** Say why a kind is still waiting for its initial list (undefined: no particular reason). */
  explain(kind: string, reason: string | undefined): void {
    if (reason === undefined) this.#why.delete(kind);
    else this.#why.set(kind, reason);
  }

  /** why each waiting kind waits, where known */
  get reasons(): Record<string, string> {
    return Object.fromEntries([...this.#why].filter(([kind]) => this.#pending.has(kind)).sort());
  }

  /** ms since this kind's cache was last proved fresh; undefined before the first proof */
  staleness(kind: string): number | undefined {
    const at = this.#fresh.get(kind);
    return at === undefined ? undefined : this.now() - at;
  }

  /** every synced kind's staleness in ms, read now (for the metrics gauge) */
  stalenessByKind(): Map<string, number> {
    const out = new Map<string, number>();
    for (const kind of this.#kinds) {
      const ms = this.staleness(kind);
      if (ms !== undefined) out.set(kind, ms);
    }
    return out;
  }

  /** Whether every kind among `kinds` was last proved fresh within maxStalenessMs (on every lookup: one clock read, nothing made). */
  fresh(kinds: readonly string[]): boolean {
    if (this.maxStalenessMs === Infinity) return true;
    const now = this.now();
    for (const kind of kinds) if (this.#pastBound(kind, now) !== undefined) return false;
    return true;
  }

  /** the kinds among `kinds` (default: all) last proved fresh longer than maxStalenessMs ago */
  stale(kinds: readonly string[] = this.#kinds): Stale[] {
    const out: Stale[] = [];
    const now = this.now();
    for (const kind of kinds) {
      const ms = this.#pastBound(kind, now);
      if (ms !== undefined) out.push({ kind, seconds: Math.ceil(ms / 1000) });
    }
    return out;
  }

  /** ms since this kind was last proved fresh, when that is longer than maxStalenessMs */
  #pastBound(kind: string, now: number): number | undefined {
    const at = this.#fresh.get(kind);
    return at !== undefined && now - at > this.maxStalenessMs ? now - at : undefined;
  }

  /** Why answers computed from `kinds` would be too old now, or undefined when they are fresh enough. */
  staleReason(kinds: readonly string[] = this.#kinds): string | undefined {
    const stale = this.stale(kinds);
    if (stale.length === 0) return undefined;
    return (
      `the apiserver last proved the cache current ${stale.map(s => `${s.seconds} s ago for ${s.kind}`).join(", ")}, ` +
      `longer than PODINDEX_MAX_STALENESS (${Math.floor(this.maxStalenessMs / 1000)} s) allows`
    );
  }

  get ready(): boolean {
    return this.#pending.size === 0;
  }

  /** the kinds still waiting for their initial list, sorted */
  get waitingFor(): string[] {
    return [...this.#pending].sort();
  }
}
