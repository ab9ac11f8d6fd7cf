/**
 * Whether this replica is the one that writes (PodIndex status, Events, PostgreSQL mirrors).
 * Every replica serves lookups; exactly one at a time leads.
 */
export interface Leadership {
  /** true only while this replica holds the lease and its renewal is within the renew deadline */
  isLeader(): boolean;
  /** called on every change, true when leadership is gained and false when it is lost or given up */
  onChange(cb: (leading: boolean) => void): void;
  /** begin trying to lead; resolves at once, without waiting for leadership */
  start(): Promise<void>;
  /** stop trying; if leading, report false first, then release the lease so another takes over at once */
  stop(): Promise<void>;
}
