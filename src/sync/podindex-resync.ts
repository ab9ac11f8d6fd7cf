import type { Logger } from "pino";
import type { Runnable } from "../manager/runnable";
import type { Metrics } from "../metrics";
import type { Readiness } from "../readiness";
import type { PodIndexList } from "../views/podindex-set";

export interface PodIndexResyncDeps {
  /** one full list of PodIndex objects and its resourceVersion */
  list: () => Promise<PodIndexList>;
  /** apply a full list; false when it is older than one already applied */
  apply: (list: PodIndexList) => boolean;
  readiness: Readiness;
  metrics: Metrics;
  log: Logger;
}

/** how soon a failed first PodIndex list is retried */
const RETRY_MS = 2000;

/**
 * podindex's own full lists of PodIndexes (every replica): the start-up seed, one every
 * `intervalMs` (which proves a quiet cluster's PodIndex set fresh), and one whenever a watch
 * recovers (resync()). One list at a time: one asked for meanwhile runs next.
 */
export class PodIndexResync implements Runnable {
  readonly name = "PodIndex resync";
  readonly readiness = "podindexes";
  /** between two lists (the app sets it from PODINDEX_RESYNC_SECONDS) */
  intervalMs = 30_000;
  #running = false;
  #interval: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  /** the list in flight, and whether another was asked for meanwhile */
  #listing: Promise<void> | undefined;
  #again = false;

  constructor(private readonly deps: PodIndexResyncDeps) {}

  /** Resolves once the first list was applied or failed (a failed one is retried every RETRY_MS). */
  async start(): Promise<void> {
    this.#running = true;
    await this.resync();
    if (this.#running) this.#interval = setInterval(() => void this.resync(), this.intervalMs);
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#interval);
    clearTimeout(this.#retry);
  }

  /** List every PodIndex and apply the list. */
  resync(): Promise<void> {
    if (this.#listing) {
      this.#again = true;
      return this.#listing;
    }
    this.#listing = (async () => {
      do {
        this.#again = false;
        await this.#list();
      } while (this.#again && this.#running);
      this.#listing = undefined;
    })();
    return this.#listing;
  }

  async #list(): Promise<void> {
    const { readiness, log } = this.deps;
    try {
      // an older list than one already applied proves nothing
      if (!this.deps.apply(await this.deps.list())) return;
      this.deps.metrics.relists.inc({ kind: "podindexes" });
      readiness.markSynced("podindexes");
    } catch (err) {
      // until the first list succeeds (e.g. the CRD is not installed yet) retry soon, not at the next resync
      const waiting = readiness.waitingFor.includes("podindexes");
      const why = err instanceof Error ? err.message : String(err);
      if (waiting) readiness.explain("podindexes", `${why}; retrying every ${RETRY_MS / 1000} s`);
      log.warn(
        { err },
        `listing PodIndexes failed; retrying ${waiting ? `in ${RETRY_MS / 1000} s` : "at the next resync"}`,
      );
      if (waiting && this.#running) {
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => void this.resync(), RETRY_MS);
      }
    }
  }
}
