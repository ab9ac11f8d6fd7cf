/**
 * A part of podindex the Manager starts and stops, as controller-runtime's manager.Runnable:
 * the lookup server, a feed, a writer. Constructing one starts nothing.
 */
export interface Runnable {
  /** for logs */
  readonly name: string;
  /**
   * Runs only on the replica that leads (status writes, Events, mirrors): started when this
   * replica becomes leader, stopped when it no longer is. Otherwise it runs on every replica.
   */
  readonly leaderOnly?: boolean;
  /**
   * The Readiness kind this runnable lists and keeps fresh (src/readiness.ts): registered when the
   * runnable is added, so /readyz waits for its initial list and lookups refuse its stale answers.
   */
  readonly readiness?: string;
  /** Begin; resolves once it runs (a server listens, a first list was tried). */
  start(): Promise<void> | void;
  /** End; resolves once it has done its last (a write in flight finished, the server closed). */
  stop(): Promise<void>;
}
