import { RBTree } from "bintrees";
import type { PodCache } from "./pod-cache";
import type { PodRecord } from "./pod-record";

/** Where a pod sorts: namespace, name, then UID (two pods of one name can coexist briefly). */
export type PodKey = readonly [namespace: string, name: string, uid: string];

type Keyed = Pick<PodRecord, "namespace" | "name" | "uid">;

/** Code-unit order: names are ASCII, and localeCompare is far slower. */
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const compare = (a: Keyed, b: Keyed) =>
  byText(a.namespace, b.namespace) || byText(a.name, b.name) || byText(a.uid, b.uid);

export const keyOf = (rec: Keyed): PodKey => [rec.namespace, rec.name, rec.uid];

/**
 * The cached pods in namespace/name order (a red-black tree), kept from the cache's changes:
 * O(log n) per change, and a walk from any key costs O(log n + pods walked).
 */
export class PodOrder {
  readonly #tree = new RBTree<PodRecord | Keyed>(compare);

  constructor(cache: PodCache) {
    for (const rec of cache.values()) this.#tree.insert(rec);
    cache.onChange((prev, next) => {
      if (prev) this.#tree.remove(prev);
      if (next) this.#tree.insert(next);
    });
  }

  get size(): number {
    return this.#tree.size;
  }

  /** The pods after `key` (all of them without one), in order. The cache must not change meanwhile. */
  *after(key?: PodKey): Generator<PodRecord> {
    const it = key ? this.#tree.upperBound({ namespace: key[0], name: key[1], uid: key[2] }) : this.#tree.iterator();
    for (let rec = key ? it.data() : it.next(); rec !== null; rec = it.next()) yield rec as PodRecord;
  }
}
