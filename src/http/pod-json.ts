import type { ExposedPod } from "../lookup";
import { podView } from "./present";

/** A pod's last by-IP answer: `{"ip":…,"pod":…}`, the pod's JSON starting at `at`. */
interface Made {
  ip: string | undefined;
  answer: string;
  at: number;
}

/**
 * JSON.stringify(podView(pod)), without serialising the same pod twice. An ExposedPod is frozen,
 * and PodLookup hands out the same one for as long as its record, the views that show it and the
 * Services it backs are the same (a change of any of them makes a new one): the text is kept per
 * ExposedPod, and dies with it. The whole by-IP answer is kept with it, for the IP as last spelt:
 * a hit then sends a string it made before.
 */
export class PodJson {
  readonly #made = new WeakMap<ExposedPod, Made>();

  text(pod: ExposedPod): string {
    const made = this.#made.get(pod);
    if (made) return made.answer.slice(made.at, -1);
    const text = JSON.stringify(podView(pod));
    this.#made.set(pod, { ip: undefined, answer: `${text}}`, at: 0 });
    return text;
  }

  /** `{"ip":<ip as asked>,"pod":<the pod's JSON>}` */
  byIp(ip: string, pod: ExposedPod): string {
    const made = this.#made.get(pod);
    if (made?.ip === ip) return made.answer;
    const head = `{"ip":${JSON.stringify(ip)},"pod":`;
    const answer = `${head}${this.text(pod)}}`;
    this.#made.set(pod, { ip, answer, at: head.length });
    return answer;
  }
}
