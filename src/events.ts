import type { Logger } from "pino";
import type { Runnable } from "./manager/runnable";

/** The PodIndex an Event is about. */
export interface EventSubject {
  name: string;
  uid: string;
}

export interface PodIndexEvent {
  type: "Normal" | "Warning";
  /** CamelCase, as Kubernetes reasons are */
  reason: string;
  message: string;
}

export type EmitEvent = (subject: EventSubject, event: PodIndexEvent) => Promise<void>;

/**
 * Reports what happens to a PodIndex as Kubernetes Events (`kubectl describe podindex NAME`,
 * `kubectl get events`), as uds-core's operator reports failures: once per change, never per
 * event stream tick. The same reason and message for the same object is not emitted again until
 * something else was. Emitting never throws; a failure is logged.
 *
 * Leader-only: between start() and stop() it emits; otherwise (another replica leads, and reports
 * the same changes) it drops what it is given and remembers none of it.
 */
export class EventRecorder implements Runnable {
  readonly name = "event recorder";
  readonly leaderOnly = true;
  readonly #last = new Map<string, string>();
  #emits = false;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    private readonly emit: EmitEvent,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.#emits = true;
  }

  /** Stop emitting; resolves once the Events being sent are. */
  async stop(): Promise<void> {
    this.#emits = false;
    await Promise.all(this.#inFlight);
  }

  record(subject: EventSubject, event: PodIndexEvent): void {
    if (!this.#emits) return;
    const key = `${event.type}|${event.reason}|${event.message}`;
    if (this.#last.get(subject.uid) === key) return;
    this.#last.set(subject.uid, key);
    const sent = this.emit(subject, event)
      .catch(err =>
        this.log.warn({ err, podindex: subject.name, reason: event.reason }, "could not record a Kubernetes Event"),
      )
      .finally(() => this.#inFlight.delete(sent));
    this.#inFlight.add(sent);
  }
}

/** A core/v1 Event about a PodIndex: cluster-scoped objects' Events live in namespace default. */
export function coreEvent(subject: EventSubject, event: PodIndexEvent, now = new Date()) {
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { generateName: `${subject.name}.`, namespace: "default" },
    involvedObject: { apiVersion: "podindex.dev/v1alpha1", kind: "PodIndex", name: subject.name, uid: subject.uid },
    type: event.type,
    reason: event.reason,
    message: event.message,
    source: { component: "podindex" },
    reportingComponent: "podindex",
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}
