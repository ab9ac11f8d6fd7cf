import type { Logger } from "pino";
import type { Runnable } from "../manager/runnable";
import { IDENTITY_KINDS, type Readiness } from "../readiness";

export interface DegradedDeps {
  readiness: Readiness;
  log: Logger;
  /** the Degraded condition may read otherwise now: write the status again (StatusWriter.markDirty) */
  changed: () => void;
}

/**
 * What the Degraded condition says: which watches are failing, and which caches are older than
 * PODINDEX_MAX_STALENESS. As a runnable (every replica) it checks staleness on a timer, since a
 * kind turns stale without any event: it logs each change and has the status written again. Any
 * status computed since the last check with other stale kinds than now (a write in between may
 * have caught a state this check never saw) is recomputed too.
 */
export class Degraded implements Runnable {
  readonly name = "stale checker";
  /** kind → why its watch is failing */
  readonly #failing = new Map<string, string>();
  /** the stale kinds at the last check, and every set a Degraded computation saw since */
  #staleSeen = new Set([""]);
  #staleKinds = "";
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DegradedDeps) {}

  start(): void {
    this.#timer = setInterval(() => this.check(), Math.min(1000, this.deps.readiness.maxStalenessMs / 2));
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
  }

  /** A kind's watch failed; it relists and resumes by itself. */
  watchFailed(kind: string, err: unknown): void {
    this.#failing.set(
      kind,
      `the ${kind} watch failed (${err instanceof Error ? err.message : String(err)}); it relists and resumes by itself`,
    );
    this.deps.changed();
  }

  /** A kind's watch delivers again. */
  watchWorks(kind: string): void {
    if (this.#failing.delete(kind)) this.deps.changed();
  }

  /** The Degraded condition's message, or undefined when nothing is degraded. */
  reason(): string | undefined {
    const why = [...this.#failing.values()];
    const { readiness } = this.deps;
    const stale = readiness.stale();
    this.#staleSeen.add(stale.map(s => s.kind).join(","));
    if (stale.length > 0) {
      const gates = stale.some(s => (IDENTITY_KINDS as readonly string[]).includes(s.kind));
      why.push(
        `the cache of ${stale.map(s => s.kind).join(", ")} is older than PODINDEX_MAX_STALENESS ` +
          `(${Math.floor(readiness.maxStalenessMs / 1000)} s)` +
          (gates ? ": IP and UID lookups and forward-auth answer 503 Stale" : ""),
      );
    }
    return why.length ? why.join("; ") : undefined;
  }

  /** A kind turned stale or fresh again: the status is written again, and the log says so. */
  check(): void {
    const { readiness, log } = this.deps;
    const stale = readiness.stale();
    const kinds = stale.map(s => s.kind).join(",");
    this.#staleSeen.add(kinds);
    if (this.#staleSeen.size > 1) this.deps.changed();
    this.#staleSeen = new Set([kinds]);
    if (kinds === this.#staleKinds) return;
    this.#staleKinds = kinds;
    if (stale.length > 0) log.warn({ stale }, readiness.staleReason()!);
    else log.info("every cache is fresh again");
  }
}
