import type { PodRecord } from "../cache/pod-record";
import type { PodIndexView } from "./view";

/** The views of every valid PodIndex, by name. A pod is served when some view selects it. */
export class ViewSet {
  readonly #views = new Map<string, PodIndexView>();
  #sorted: PodIndexView[] = [];
  #annotationKeys: ReadonlySet<string> = new Set();

  set(view: PodIndexView): void {
    this.#views.set(view.name, view);
    this.#recompute();
  }

  delete(name: string): boolean {
    const deleted = this.#views.delete(name);
    if (deleted) this.#recompute();
    return deleted;
  }

  get(name: string): PodIndexView | undefined {
    return this.#views.get(name);
  }

  /** sorted by name */
  list(): readonly PodIndexView[] {
    return this.#sorted;
  }

  get size(): number {
    return this.#views.size;
  }

  servedBy(rec: PodRecord): PodIndexView[] {
    return this.#sorted.filter(view => view.selects(rec));
  }

  isServed(rec: PodRecord): boolean {
    return this.#sorted.some(view => view.selects(rec));
  }

  /** every annotation key some PodIndex exposes: what the cache keeps */
  annotationKeys(): ReadonlySet<string> {
    return this.#annotationKeys;
  }

  #recompute(): void {
    this.#sorted = [...this.#views.values()].sort((a, b) => a.name.localeCompare(b.name));
    this.#annotationKeys = new Set(this.#sorted.flatMap(v => v.annotationKeys));
  }
}
