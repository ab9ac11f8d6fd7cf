import type { PodRecord } from "../cache/pod-record";
import type { ExposedPod } from "../lookup";
import { podView } from "./present";

/** texts kept per record: as many as PodLookup keeps exposures (any it no longer hands out are never matched) */
const TEXTS_KEPT = 4;

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
  /** per record, one text per exposure asked for (PodLookup keeps a few per record, one per scope) */
  readonly #made = new WeakMap<PodRecord, Serialised[]>();

  text(pod: ExposedPod): string {
    let kept = this.#made.get(pod.record);
    if (!kept) this.#made.set(pod.record, (kept = []));
    let made = kept.find(
      m => m.labels === pod.labels && m.annotations === pod.annotations && m.indexes === pod.indexes,
    );
    if (made === undefined) {
      // podView with no Services: its last key, which every answer then appends as it is now
      const json = JSON.stringify(podView({ ...pod, services: [] }));
      made = {
        labels: pod.labels,
        annotations: pod.annotations,
        indexes: pod.indexes,
        head: json.slice(0, -"[]}".length),
      };
      if (kept.unshift(made) > TEXTS_KEPT) kept.pop();
    }
    return `${made.head}${JSON.stringify(pod.services)}}`;
  }
}
