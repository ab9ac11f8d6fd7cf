import type { Logger } from "pino";
import { AlwaysLeader, type Leadership } from "./leadership";
import type { Runnable } from "./runnable";

export interface ManagerOptions {
  log: Logger;
  /** who says whether this replica leads (default: AlwaysLeader, a single replica) */
  leadership?: Leadership;
  /** register a runnable's readiness kind (Readiness.register) */
  registerReadiness?: (kind: string) => void;
}

/**
 * Starts and stops podindex's runnables, as controller-runtime's Manager: those for every replica
 * in the order they were added, then the leader-only ones whenever the Leadership says this
 * replica leads (and stops those, in reverse, when it no longer does). Leadership changes are
 * followed one at a time: a change while leader-only runnables start or stop is acted on after,
 * as the Leadership says then. stop() is called on every runnable, started or not.
 */
export class Manager {
  readonly #runnables: Runnable[] = [];
  #leadership: Leadership;
  #state: "new" | "running" | "stopped" = "new";
  /** whether the leader-only runnables run (or are starting) */
  #leading = false;
  /** the leader-only runnables' starts and stops, one after another */
  #transitions: Promise<unknown[]> = Promise.resolve([]);

  constructor(private readonly o: ManagerOptions) {
    this.#leadership = o.leadership ?? new AlwaysLeader();
  }

  /** Use this Leadership instead of the one given at construction (before start: the configuration picks it). */
  useLeadership(leadership: Leadership): void {
    if (this.#state !== "new") throw new Error("the leadership is chosen before the manager starts");
    this.#leadership = leadership;
  }

  /** Add a runnable (before start); its readiness kind is registered now. */
  add(runnable: Runnable): void {
    if (this.#state !== "new") throw new Error(`runnable ${runnable.name} added after the manager started`);
    this.#runnables.push(runnable);
    if (runnable.readiness !== undefined) this.o.registerReadiness?.(runnable.readiness);
  }

  /** whether this replica runs the leader-only runnables */
  get leading(): boolean {
    return this.#leading;
  }

  /**
   * Start every replica's runnables in order (rejects with the first that fails), then campaign;
   * resolves once the leader-only runnables run if this replica leads at once (AlwaysLeader).
   */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error("a manager starts once");
    this.#state = "running";
    for (const r of this.#runnables.filter(r => !r.leaderOnly)) {
      // stop() may come during start (a signal while the first list is awaited): start nothing after
      if (this.#state !== "running") return;
      await r.start();
      this.o.log.debug({ runnable: r.name }, "started");
    }
    if (this.#state !== "running") return;
    this.#leadership.onChange(() => void this.#follow());
    await this.#leadership.start();
    await this.#follow();
  }

  /**
   * Stop the leader-only runnables (in reverse), then give leadership up, then stop every
   * replica's runnables in reverse. Each is stopped even if another failed; rejects with the first failure.
   */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    const campaigned = this.#state === "running";
    this.#state = "stopped";
    const errors = await this.#follow();
    if (campaigned) errors.push(...(await this.#each([this.#leadership], "stop")));
    errors.push(...(await this.#each(this.#runnables.filter(r => !r.leaderOnly).reverse(), "stop")));
    if (errors.length > 0) throw errors[0];
  }

  /** Bring the leader-only runnables in line with the leadership as it is when this turn comes. */
  #follow(): Promise<unknown[]> {
    this.#transitions = this.#transitions.then(async () => {
      const lead = this.#state === "running" && this.#leadership.isLeader();
      if (lead === this.#leading) return [];
      this.#leading = lead;
      const leaderOnly = this.#runnables.filter(r => r.leaderOnly);
      this.o.log.info(
        { runnables: leaderOnly.map(r => r.name) },
        lead
          ? "this replica leads: starting the leader-only runnables"
          : "no longer leading: stopping the leader-only runnables",
      );
      return lead ? this.#each(leaderOnly, "start") : this.#each(leaderOnly.reverse(), "stop");
    });
    return this.#transitions;
  }

  /** Start or stop each in turn, logging a failure and carrying on; resolves to the failures. */
  async #each(items: { name?: string; start(): unknown; stop(): Promise<void> }[], what: "start" | "stop") {
    const errors: unknown[] = [];
    for (const item of items) {
      try {
        await item[what]();
      } catch (err) {
        errors.push(err);
        this.o.log.error({ err, runnable: item.name ?? "leadership" }, `${what} failed`);
      }
    }
    return errors;
  }
}
