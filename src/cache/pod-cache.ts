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

/**
 * IP → the UIDs of the pods that list it. Nearly every IP has one pod, so one UID is kept as the
 * string itself and only a shared IP gets a Set: at 100k pods, 100k Sets fewer (about 10 MB).
 */
class UidsByIp {
  readonly #map = new Map<string, string | Set<string>>();

  add(ip: string, uid: string): void {
    const held = this.#map.get(ip);
    if (held === undefined) this.#map.set(ip, uid);
    else if (typeof held !== "string") held.add(uid);
    else if (held !== uid) this.#map.set(ip, new Set([held, uid]));
  }

  delete(ip: string, uid: string): void {
    const held = this.#map.get(ip);
    if (held === uid) this.#map.delete(ip);
    else if (typeof held !== "string" && held?.delete(uid) && held.size === 1)
      this.#map.set(ip, held.values().next().value!);
  }

  /** the UID listing `ip` when exactly one pod lists it (nearly every IP): no array made */
  only(ip: string): string | undefined {
    const held = this.#map.get(ip);
    return typeof held === "string" ? held : undefined;
  }

  /** the UIDs listing `ip`, oldest listing first */
  get(ip: string): readonly string[] {
    const held = this.#map.get(ip);
    return held === undefined ? [] : typeof held === "string" ? [held] : [...held];
  }
}

/**
 * Every pod once, keyed by UID, with two IP maps beside it: the pods that list an IP, and the
 * pods that own it (live, not hostNetwork). Every operation is O(1) in the number of pods.
 * Removal is by UID only, so a late DELETED for an old pod never touches a newer pod on its IP.
 */
export class PodCache {
  readonly #byUid = new Map<string, PodRecord>();
  readonly #listing = new UidsByIp();
  /** how many IPs have at least one owner (a listing pod that ownsIps) */
  #ownedIps = 0;
  readonly #listeners = new Set<CacheListener>();
  /** UIDs recently deleted: UIDs are never reused, so any later event for one is stale */
  readonly #tombstones = new Set<string>();
  #keepAnnotation: (key: string) => boolean;
  #resyncSeen: Set<string> | undefined;
  #quietReplacements = 0;

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
    else this.#quietReplacements++;
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

  /**
   * How many records were replaced by one of the same resourceVersion, which listeners are not told
   * of (a re-list hands every pod over again; the annotation filter may have changed meanwhile).
   */
  get quietReplacements(): number {
    return this.#quietReplacements;
  }

  byUid(uid: string): PodRecord | undefined {
    return this.#byUid.get(uid.toLowerCase());
  }

  get size(): number {
    return this.#byUid.size;
  }

  /** distinct IPs that have at least one live owner */
  get ipCount(): number {
    return this.#ownedIps;
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
    // the usual case, on every lookup's path: one pod lists the IP and owns it
    const only = this.#listing.only(ip);
    const rec = only === undefined ? undefined : this.#byUid.get(only)!;
    if (rec && ownsIps(rec)) return served(rec) ? { result: "hit", pod: rec } : { result: "miss", reason: "unknown" };
    const listing = this.#records(this.#listing.get(ip));
    const owners = listing.filter(ownsIps);
    if (owners.length > 1) {
      owners.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
      return { result: "conflict", pods: owners };
    }
    if (owners.length === 1)
      return served(owners[0]) ? { result: "hit", pod: owners[0] } : { result: "miss", reason: "unknown" };
    const explaining = listing.filter(served);
    if (explaining.some(rec => rec.hostNetwork)) return { result: "miss", reason: "hostNetwork" };
    if (explaining.some(rec => TERMINAL.has(rec.phase))) return { result: "miss", reason: "terminal" };
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

  #records(uids: readonly string[]): PodRecord[] {
    return uids.map(uid => this.#byUid.get(uid)!);
  }

  /** how many pods listing `ip` own it */
  #owners(ip: string): number {
    return this.#records(this.#listing.get(ip)).filter(ownsIps).length;
  }

  /** called with `rec` already in #byUid */
  #index(rec: PodRecord): void {
    const owns = ownsIps(rec);
    for (const ip of rec.podIPs) {
      this.#listing.add(ip, rec.uid);
      if (owns && this.#owners(ip) === 1) this.#ownedIps++;
    }
  }

  /** called with `rec` still in #byUid */
  #unindex(rec: PodRecord): void {
    const owned = ownsIps(rec);
    for (const ip of rec.podIPs) {
      this.#listing.delete(ip, rec.uid);
      if (owned && this.#owners(ip) === 0) this.#ownedIps--;
    }
  }

  #notify(prev: PodRecord | undefined, next: PodRecord | undefined): void {
    for (const listener of this.#listeners) listener(prev, next);
  }
}
