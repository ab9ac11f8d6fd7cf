import type { PodRecord } from "../cache/pod-record";
import type { ExposedPod } from "../lookup";
import { podView } from "./present";

/** A record's podView as JSON text, up to its Services (the last key, read anew for every answer). */
interface Serialised {
  labels: ExposedPod["labels"];
  annotations: ExposedPod["annotations"];
  indexes: ExposedPod["indexes"];
  head: string;
}

/**
 * JSON.stringify(podView(pod)), without serialising the same pod twice. A record is frozen and
 * replaced on every change of its pod, and PodLookup hands out the same frozen labels, annotations
 * and indexes for as long as the views that show the record are the same: the text kept for a
 * record is reused only while all four are the very objects it was made from. The Services a pod
 * backs change without it: they are serialised on every answer. Entries die with their records.
 */
export class PodJson {
  readonly #made = new WeakMap<PodRecord, Serialised>();

  text(pod: ExposedPod): string {
    let made = this.#made.get(pod.record);
    if (
      made === undefined ||
      made.labels !== pod.labels ||
      made.annotations !== pod.annotations ||
      made.indexes !== pod.indexes
    ) {
      // podView with no Services: its last key, which every answer then appends as it is now
      const json = JSON.stringify(podView({ ...pod, services: [] }));
      made = {
        labels: pod.labels,
        annotations: pod.annotations,
        indexes: pod.indexes,
        head: json.slice(0, -"[]}".length),
      };
      this.#made.set(pod.record, made);
    }
    return `${made.head}${JSON.stringify(pod.services)}}`;
  }
}
