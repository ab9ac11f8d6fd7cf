import type { PodRecord } from "../cache/pod-record";
import type { PodIndexView } from "./view";

/**
 * The views of every valid PodIndex, by name. A pod is served when some view selects it.
 * A PodIndex that exists but is refused (its spec is invalid) has no view, only its reason.
 */
export class ViewSet {
  readonly #views = new Map<string, PodIndexView>();
  /** name → why that PodIndex exists but is not served */
  readonly #refused = new Map<string, string>();
  #sorted: PodIndexView[] = [];
  #annotationKeys: ReadonlySet<string> = new Set();
  #generation = 0;
  readonly #listeners: (() => void)[] = [];

  /** Call `listener` after every change of the views (set, delete, refuse). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  set(view: PodIndexView): void {
    this.#refused.delete(view.name);
    this.#views.set(view.name, view);
    this.#recompute();
  }

  /** Forget a PodIndex (its view and any refusal); true when it had a view. */
  delete(name: string): boolean {
    this.#refused.delete(name);
    const deleted = this.#views.delete(name);
    if (deleted) this.#recompute();
    return deleted;
  }

  get(name: string): PodIndexView | undefined {
    return this.#views.get(name);
  }

  /** A PodIndex exists but is not served (no view): remember why, until set() or delete() of that name. */
  refuse(name: string, reason: string): void {
    this.#views.delete(name);
    this.#refused.set(name, reason);
    this.#recompute();
  }

  /** why the PodIndex of this name exists but is not served; undefined when it is served or unknown */
  refusal(name: string): string | undefined {
    return this.#refused.get(name);
  }

  /** sorted by name */
  list(): readonly PodIndexView[] {
    return this.#sorted;
  }

  get size(): number {
    return this.#views.size;
  }

  /** counts the changes of the views (set, delete, refuse): what a view selects is the same while it is */
  get generation(): number {
    return this.#generation;
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
    this.#generation++;
    this.#sorted = [...this.#views.values()].sort((a, b) => a.name.localeCompare(b.name));
    this.#annotationKeys = new Set(this.#sorted.flatMap(v => v.annotationKeys));
    for (const listener of this.#listeners) listener();
  }
}
