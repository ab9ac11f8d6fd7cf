import { toPodRecord, type PodLike, type PodRecord } from "./pod-record";
import { isOlder } from "./resource-version";

export type MissReason = "unknown" | "terminal" | "hostNetwork";

export type IpLookup =
  | { result: "hit"; pod: PodRecord }
  | { result: "conflict"; pods: PodRecord[] }
  | { result: "miss"; reason: MissReason };

export type CacheListener = (prev: PodRecord | undefined, next: PodRecord | undefined) => void;

const TERMINAL: ReadonlySet<string> = new Set(["Succeeded", "Failed"]);
/** how many deleted UIDs are remembered (oldest forgotten first) */
const TOMBSTONES = 100_000;

/** Whether a pod owns the IPs it lists: not on the host network and not finished. */
export function ownsIps(rec: PodRecord): boolean {
  return !rec.hostNetwork && !TERMINAL.has(rec.phase);
}

function addTo(map: Map<string, Set<string>>, key: string, uid: string): void {
  const set = map.get(key);
  if (set) set.add(uid);
  else map.set(key, new Set([uid]));
}

function deleteFrom(map: Map<string, Set<string>>, key: string, uid: string): void {
  const set = map.get(key);
  if (set?.delete(uid) && set.size === 0) map.delete(key);
}

/**
 * Every pod once, keyed by UID, with two IP maps beside it: the pods that list an IP, and the
 * pods that own it (live, not hostNetwork). Every operation is O(1) in the number of pods.
 * Removal is by UID only, so a late DELETED for an old pod never touches a newer pod on its IP.
 */
export class PodCache {
  readonly #byUid = new Map<string, PodRecord>();
  readonly #listing = new Map<string, Set<string>>();
  readonly #owners = new Map<string, Set<string>>();
  readonly #listeners = new Set<CacheListener>();
  /** UIDs recently deleted: UIDs are never reused, so any later event for one is stale */
  readonly #tombstones = new Set<string>();
  #keepAnnotation: (key: string) => boolean;
  #resyncSeen: Set<string> | undefined;

  constructor(opts: { keepAnnotation?: (key: string) => boolean } = {}) {
    this.#keepAnnotation = opts.keepAnnotation ?? (() => false);
  }

  /** Which annotation keys later upserts keep. */
  setAnnotationFilter(keep: (key: string) => boolean): void {
    this.#keepAnnotation = keep;
  }

  /** Store the pod's new state (ADDED/MODIFIED); an update older than the stored one is ignored. */
  upsert(pod: PodLike): PodRecord | undefined {
    const next = toPodRecord(pod, this.#keepAnnotation);
    if (!next || this.#tombstones.has(next.uid)) return undefined;
    this.#resyncSeen?.add(next.uid);
    const prev = this.#byUid.get(next.uid);
    if (prev && isOlder(next.resourceVersion, prev.resourceVersion)) return prev;
    if (prev) this.#unindex(prev);
    this.#byUid.set(next.uid, next);
    this.#index(next);
    if (!prev || prev.resourceVersion !== next.resourceVersion || next.resourceVersion === "") this.#notify(prev, next);
    return next;
  }

  /**
   * Remove the pod with this UID (DELETED); nothing else. The UID stays remembered for a while, so
   * an event about it that arrives late (reordered by a client, or replayed) cannot bring it back.
   */
  remove(pod: PodLike): PodRecord | undefined {
    const uid = pod.metadata?.uid?.toLowerCase();
    if (!uid) return undefined;
    this.#tombstones.add(uid);
    if (this.#tombstones.size > TOMBSTONES) this.#tombstones.delete(this.#tombstones.values().next().value!);
    const prev = this.#byUid.get(uid);
    if (!prev) return undefined;
    this.#unindex(prev);
    this.#byUid.delete(prev.uid);
    this.#notify(prev, undefined);
    return prev;
  }

  byUid(uid: string): PodRecord | undefined {
    return this.#byUid.get(uid.toLowerCase());
  }

  get size(): number {
    return this.#byUid.size;
  }

  /** distinct IPs that have at least one live owner */
  get ipCount(): number {
    return this.#owners.size;
  }

  values(): IterableIterator<PodRecord> {
    return this.#byUid.values();
  }

  /**
   * Who owns `ip` (already normalised). Two or more live owners are a conflict, whatever
   * `served` says: an answer must never pick one of two claimants. A single owner is a hit only
   * when `served` accepts it. With no owner, a served hostNetwork or finished pod that lists the
   * IP explains the miss.
   */
  lookupIp(ip: string, served: (rec: PodRecord) => boolean = () => true): IpLookup {
    const owners = this.#records(this.#owners.get(ip));
    if (owners.length > 1) {
      owners.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
      return { result: "conflict", pods: owners };
    }
    if (owners.length === 1)
      return served(owners[0]) ? { result: "hit", pod: owners[0] } : { result: "miss", reason: "unknown" };
    const listing = this.#records(this.#listing.get(ip)).filter(served);
    if (listing.some(rec => rec.hostNetwork)) return { result: "miss", reason: "hostNetwork" };
    if (listing.some(rec => TERMINAL.has(rec.phase))) return { result: "miss", reason: "terminal" };
    return { result: "miss", reason: "unknown" };
  }

  /** Start a full re-read: endResync() then drops every pod not upserted in between. */
  beginResync(): void {
    this.#resyncSeen = new Set();
  }

  endResync(): PodRecord[] {
    const seen = this.#resyncSeen;
    this.#resyncSeen = undefined;
    if (!seen) return [];
    const gone = [...this.#byUid.values()].filter(rec => !seen.has(rec.uid));
    for (const rec of gone) this.remove({ metadata: { uid: rec.uid } });
    return gone;
  }

  /** Be told of every change (synchronously); returns the unsubscribe function. */
  onChange(listener: CacheListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #records(uids: Set<string> | undefined): PodRecord[] {
    return uids ? [...uids].map(uid => this.#byUid.get(uid)!) : [];
  }

  #index(rec: PodRecord): void {
    const owns = ownsIps(rec);
    for (const ip of rec.podIPs) {
      addTo(this.#listing, ip, rec.uid);
      if (owns) addTo(this.#owners, ip, rec.uid);
    }
  }

  #unindex(rec: PodRecord): void {
    for (const ip of rec.podIPs) {
      deleteFrom(this.#listing, ip, rec.uid);
      deleteFrom(this.#owners, ip, rec.uid);
    }
  }

  #notify(prev: PodRecord | undefined, next: PodRecord | undefined): void {
    for (const listener of this.#listeners) listener(prev, next);
  }
}
