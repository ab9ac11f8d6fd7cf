/**
 * Which kinds have had their initial list applied. /readyz, /ready and every lookup consult it:
 * before the first list of every kind is in, an answer could be wrong, so none is given.
 */
export class Readiness {
  readonly #pending: Set<string>;

  constructor(kinds: readonly string[]) {
    this.#pending = new Set(kinds);
  }

  markSynced(kind: string): void {
    this.#pending.delete(kind);
  }

  get ready(): boolean {
    return this.#pending.size === 0;
  }

  /** the kinds still waiting for their initial list, sorted */
  get waitingFor(): string[] {
    return [...this.#pending].sort();
  }
}
