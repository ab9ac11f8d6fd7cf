import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { PodIndex, PodIndexStatus } from "../kinds/podindex";
import type { Runnable } from "../manager/runnable";
import type { SinkHealth } from "../sinks/postgres-mirror";
import type { SpecError } from "../spec/selector";
import { setCondition } from "./conditions";
import type { IndexSummary } from "./summary";

interface Tracked {
  uid: string;
  generation: number;
  invalid?: SpecError;
  /** the status as last seen on the object or last written */
  status: PodIndexStatus;
}

export interface StatusWriterDeps {
  log: Logger;
  /**
   * PATCH the PodIndex's /status with this JSON merge patch: the whole status podindex reports, and
   * null for each key it reported before and no longer does (so that the patch deletes it)
   */
  write: (name: string, status: PodIndexStatus) => Promise<void>;
  /** the current summaries, computed only when a flush is due */
  summaries: () => Map<string, IndexSummary>;
  /** why the pod watch is failing, if it is */
  degraded: () => string | undefined;
  /** the health of the PodIndex's PostgreSQL mirror, when it has one */
  sink?: (name: string) => SinkHealth | undefined;
  /** whether the initial lists are in (no status is written before: counts would be wrong) */
  ready: () => boolean;
  onWrite?: (name: string) => void;
  now?: () => Date;
}

/** The status without the field that changes on every computation. */
const comparable = ({ lastSyncTime: _t, ...rest }: PodIndexStatus) => (void _t, rest);

/** `next` as a merge patch over `prev`: what `prev` has and `next` lacks is sent as null, which deletes it. */
function mergePatch(next: PodIndexStatus, prev: PodIndexStatus): PodIndexStatus {
  const gone = Object.keys(prev).filter(k => !(k in next));
  // null is how a merge patch says "remove": the type of the status itself has no room for it
  return { ...Object.fromEntries(gone.map(k => [k, null])), ...next } as PodIndexStatus;
}

/**
 * Writes each PodIndex's status through the status subresource: coalesced (any number of changes
 * within `intervalMs` make at most one write per PodIndex), and only when something other than
 * lastSyncTime changed. A status write comes back as a MODIFIED of the same generation, which the
 * app ignores, so writing never loops. At most one write per PodIndex is in flight: a flush that
 * finds one running leaves that PodIndex for a flush after it, which writes the status as it is then.
 *
 * Leader-only: it tracks every PodIndex (snapshot() answers on every replica) but writes only
 * between start() and stop(). After start() each PodIndex's first write is its whole status even
 * if it looks unchanged: while another replica led, what this one last saw of the status is stale.
 */
export class StatusWriter implements Runnable {
  readonly name = "status writer";
  readonly leaderOnly = true;
  readonly #tracked = new Map<string, Tracked>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /** the write in flight per PodIndex */
  readonly #writing = new Map<string, Promise<void>>();
  #writes = false;
  /** the PodIndexes not written since start(): written whether or not their status looks changed */
  readonly #unwritten = new Set<string>();
  /** at most one write per PodIndex per this many ms (the app sets it from its configuration) */
  intervalMs = 2000;

  constructor(private readonly deps: StatusWriterDeps) {}

  track(pi: PodIndex, invalid?: SpecError): void {
    const name = pi.metadata?.name;
    if (!name) return;
    const known = this.#tracked.get(name);
    const status = known && known.uid === pi.metadata?.uid ? known.status : (pi.status ?? {});
    this.#tracked.set(name, { uid: pi.metadata?.uid ?? "", generation: pi.metadata?.generation ?? 0, invalid, status });
    this.markDirty();
  }

  forget(name: string): void {
    this.#tracked.delete(name);
    this.#unwritten.delete(name);
  }

  /** the PodIndexes whose status is kept (valid or not) */
  names(): string[] {
    return [...this.#tracked.keys()];
  }

  /** Something changed: flush within intervalMs (coalesced with every other change meanwhile). */
  markDirty(): void {
    if (this.#timer || !this.#writes) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.flush().finally(() => (this.#flushing = undefined));
    }, this.intervalMs);
  }

  /** Begin writing (this replica leads): every PodIndex's whole status, then what changes. */
  start(): void {
    this.#writes = true;
    for (const name of this.#tracked.keys()) this.#unwritten.add(name);
    this.markDirty();
  }

  /** Stop writing; resolves once the writes in flight are done. */
  async stop(): Promise<void> {
    this.#writes = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    await Promise.all(this.#writing.values());
  }

  /** Every tracked PodIndex's status as it would be written now (for GET /v1/indexes). */
  snapshot(): Map<string, PodIndexStatus> {
    const now = (this.deps.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z");
    const summaries = this.deps.summaries();
    const degraded = this.deps.degraded();
    return new Map(
      [...this.#tracked]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, t]) => [name, this.#compute(name, t, summaries.get(name), degraded, now)]),
    );
  }

  /** Compute every tracked PodIndex's status and write those that changed. */
  async flush(): Promise<void> {
    if (!this.#writes) return;
    if (!this.deps.ready()) return this.markDirty();
    const now = (this.deps.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z");
    const summaries = this.deps.summaries();
    const degraded = this.deps.degraded();
    const writes: Promise<void>[] = [];
    for (const [name, t] of this.#tracked) {
      const inFlight = this.#writing.get(name);
      if (inFlight) {
        // the latest wins: computed again once that write is done
        writes.push(inFlight.finally(() => this.markDirty()));
        continue;
      }
      const next = this.#compute(name, t, summaries.get(name), degraded, now);
      if (!this.#unwritten.has(name) && isDeepStrictEqual(comparable(next), comparable(t.status))) continue;
      const write = this.#write(name, t, next).finally(() => this.#writing.delete(name));
      this.#writing.set(name, write);
      writes.push(write);
    }
    await Promise.all(writes);
  }

  async #write(name: string, t: Tracked, next: PodIndexStatus): Promise<void> {
    try {
      await this.deps.write(name, mergePatch(next, t.status));
      // track() may have replaced the record meanwhile (a new generation of the same object)
      const current = this.#tracked.get(name);
      if (current?.uid === t.uid) current.status = next;
      this.#unwritten.delete(name);
      this.deps.onWrite?.(name);
    } catch (err) {
      this.deps.log.warn({ podindex: name, err }, "writing PodIndex status failed; retrying");
      this.markDirty();
    }
  }

  #compute(
    name: string,
    t: Tracked,
    summary: IndexSummary | undefined,
    degraded: string | undefined,
    now: string,
  ): PodIndexStatus {
    const generation = t.generation;
    let conditions = t.status.conditions ?? [];
    const counts = summary ?? { pods: 0, ips: 0, conflicts: 0, namespaces: 0 };
    if (t.invalid) {
      conditions = setCondition(
        conditions,
        {
          type: "Ready",
          status: "False",
          reason: t.invalid.reason,
          message: t.invalid.message,
          observedGeneration: generation,
        },
        now,
      );
    } else {
      const message =
        `serving ${counts.pods} pods with ${counts.ips} IPs` +
        (counts.conflicts ? `; ${counts.conflicts} IPs are claimed by more than one live pod and answer 409` : "");
      conditions = setCondition(
        conditions,
        { type: "Ready", status: "True", reason: "Serving", message, observedGeneration: generation },
        now,
      );
    }
    conditions = setCondition(
      conditions,
      degraded
        ? {
            type: "Degraded",
            status: "True",
            reason: "WatchFailing",
            message: degraded,
            observedGeneration: generation,
          }
        : {
            type: "Degraded",
            status: "False",
            reason: "WatchHealthy",
            message: "the pod and EndpointSlice watches are connected",
            observedGeneration: generation,
          },
      now,
    );
    const sink = t.invalid ? undefined : this.deps.sink?.(name);
    conditions = sink
      ? setCondition(
          conditions,
          {
            type: "SinkReady",
            status: sink.ready ? "True" : "False",
            reason: sink.reason,
            message: sink.message,
            observedGeneration: generation,
          },
          now,
        )
      : conditions.filter(c => c.type !== "SinkReady");
    return { observedGeneration: generation, ...counts, lastSyncTime: now, conditions };
  }
}
