/**
 * Which kinds have had their initial list applied, and when the apiserver last proved each kind's
 * cache fresh. /readyz, /ready and every lookup consult it: before the first list of every kind is
 * in, an answer could be wrong, so none is given.
 */
export class Readiness {
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
    this.#pending = new Set(kinds);
  }

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

  get ready(): boolean {
    return this.#pending.size === 0;
  }

  /** the kinds still waiting for their initial list, sorted */
  get waitingFor(): string[] {
    return [...this.#pending].sort();
  }
}
