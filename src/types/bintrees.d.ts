/** The part of bintrees 1.0.2 (a dependency of prom-client's tdigest) that podindex uses; it ships no types. */
declare module "bintrees" {
  export interface Iterator<T> {
    /** the item at the cursor; null past the end */
    data(): T | null;
    /** move to the next item and return it; null past the end */
    next(): T | null;
  }
  export class RBTree<T> {
    constructor(comparator: (a: T, b: T) => number);
    readonly size: number;
    /** false when an equal item is already held */
    insert(item: T): boolean;
    /** false when no equal item is held */
    remove(item: T): boolean;
    /** an iterator at the first item after `item` */
    upperBound(item: T): Iterator<T>;
    /** a null iterator: its next() is the first item */
    iterator(): Iterator<T>;
  }
}
