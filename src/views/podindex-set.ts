import { revisionOf } from "../cache/resource-version";
import type { PodIndex } from "../kinds/podindex";

/** What the set decides and its owner does: build a PodIndex's view, or forget everything about a name. */
export interface PodIndexSetActions {
  apply(pi: PodIndex): void;
  forget(name: string): void;
}

/** A full list of PodIndexes and the resourceVersion it was read at (the list's metadata.resourceVersion). */
export interface PodIndexList {
  items: PodIndex[];
  resourceVersion: string;
}

/**
 * Which PodIndex object holds each name, and at which resourceVersion it was last applied.
 *
 * Changes reach podindex by three paths that can each be behind the others: Pepr's Reconcile
 * watch (creations and updates), Pepr's Watch of deletions (a separate stream), and podindex's
 * own full lists (the start-up seed, the periodic safety list, the list when the apiserver comes
 * back). Whatever arrives older than what is held is dropped, so nothing rolls a PodIndex back to
 * an older generation, forgets one created after a list was read, or brings back a deleted one:
 * - an object is applied only at a resourceVersion newer than the one held for its name;
 * - a deleted object's UID is remembered (a tombstone) until a list read after the deletion no
 *   longer holds it, and is never applied again (UIDs are never reused);
 * - a list forgets a held object only if it was applied at or before the list's resourceVersion;
 * - an object not held, seen at or before the newest list's resourceVersion yet not in it, is gone;
 * - a list older than the newest one applied is ignored.
 */
export class PodIndexSet {
  readonly #held = new Map<string, { uid: string; rv: number }>();
  /** UID → the resourceVersion at which it was known deleted */
  readonly #deleted = new Map<string, number>();
  #listRv = 0;

  constructor(private readonly act: PodIndexSetActions) {}

  /** A PodIndex was created or changed (a watch event). */
  changed(pi: PodIndex): void {
    const { name, uid = "" } = pi.metadata ?? {};
    if (!name || this.#deleted.has(uid)) return;
    const rv = revisionOf(pi.metadata?.resourceVersion);
    const held = this.#held.get(name);
    if (rv !== undefined) {
      if (held?.uid === uid && held.rv >= rv) return;
      // the name belongs to another object at a later version, or was listed without this one since
      if ((held && held.rv > rv) || (!held && rv <= this.#listRv)) return;
    }
    if (held && held.uid !== uid) this.#deleted.set(held.uid, rv ?? held.rv);
    this.#held.set(name, { uid, rv: rv ?? held?.rv ?? 0 });
    this.act.apply(pi);
  }

  /** A PodIndex was deleted (a watch event): forgotten unless its name already holds a newer object. */
  deleted(pi: PodIndex): void {
    const { name, uid = "" } = pi.metadata ?? {};
    if (!name) return;
    const held = this.#held.get(name);
    this.#deleted.set(uid, Math.max(revisionOf(pi.metadata?.resourceVersion) ?? 0, held?.uid === uid ? held.rv : 0));
    if (held?.uid !== uid) return;
    this.#held.delete(name);
    this.act.forget(name);
  }

  /**
   * A full list: what it holds newer than what is held is applied, what it no longer holds and was
   * applied at or before it is forgotten. Returns false for a list older than one already applied.
   */
  listed(list: PodIndexList): boolean {
    const listRv = revisionOf(list.resourceVersion) ?? 0;
    if (listRv < this.#listRv) return false;
    this.#listRv = listRv;
    const names = new Set(list.items.map(pi => pi.metadata?.name));
    for (const [name, held] of this.#held) {
      if (names.has(name) || held.rv > listRv) continue;
      this.#held.delete(name);
      this.#deleted.set(held.uid, listRv);
      this.act.forget(name);
    }
    for (const pi of list.items) {
      const { name, uid = "" } = pi.metadata ?? {};
      if (!name || this.#deleted.has(uid)) continue;
      const rv = revisionOf(pi.metadata?.resourceVersion) ?? listRv;
      const held = this.#held.get(name);
      if (held?.uid === uid ? held.rv >= rv : held && held.rv > listRv) continue;
      if (held && held.uid !== uid) this.#deleted.set(held.uid, listRv);
      this.#held.set(name, { uid, rv });
      this.act.apply(pi);
    }
    // a tombstone older than this list that it does not hold can only meet events older than it
    const uids = new Set(list.items.map(pi => pi.metadata?.uid));
    for (const [uid, at] of this.#deleted) if (at <= listRv && !uids.has(uid)) this.#deleted.delete(uid);
    return true;
  }
}
