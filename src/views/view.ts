import type { PodRecord } from "../cache/pod-record";
import type { PodIndex } from "../kinds/podindex";
import { compilePodIndex, type CompiledPodIndex, type PostgresSink } from "../spec/compile";
import type { ForwardAuthPolicy } from "../spec/forward-auth-policy";

function pick(source: Readonly<Record<string, string>>, keys: readonly string[] | "all"): Record<string, string> {
  if (keys === "all") return { ...source };
  const out: Record<string, string> = {};
  for (const key of keys) if (Object.hasOwn(source, key)) out[key] = source[key];
  return out;
}

/** What of an EndpointSlice decides whether a PodIndex follows it. */
export interface SliceSubject {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * A PodIndex applied to the cache: which pods it selects (namespaces and label selector) and
 * what it exposes of them. Built only from a valid spec (src/spec/compile.ts); fromResource
 * throws SpecError otherwise.
 */
export class PodIndexView {
  readonly name: string;
  /** the PodIndex object's uid: a recreated PodIndex of the same name is another view */
  readonly uid: string;
  readonly generation: number;
  /** undefined: every namespace */
  readonly namespaces: ReadonlySet<string> | undefined;
  readonly annotationKeys: readonly string[];
  /** spec.forwardAuth compiled; undefined when the PodIndex answers no forward-auth */
  readonly forwardAuth: ForwardAuthPolicy | undefined;
  /** spec.services.postgres, validated */
  readonly postgres: PostgresSink | undefined;

  private constructor(private readonly spec: CompiledPodIndex) {
    this.name = spec.name;
    this.uid = spec.uid;
    this.generation = spec.generation;
    this.namespaces = spec.namespaces;
    this.annotationKeys = spec.annotationKeys;
    this.forwardAuth = spec.forwardAuth;
    this.postgres = spec.postgres;
  }

  static fromResource(pi: PodIndex): PodIndexView {
    return new PodIndexView(compilePodIndex(pi));
  }

  selects(rec: PodRecord): boolean {
    return (this.namespaces === undefined || this.namespaces.has(rec.namespace)) && this.spec.podSelector(rec.labels);
  }

  /** whether this PodIndex follows Services at all */
  get followsServices(): boolean {
    return this.spec.sliceSelector !== undefined;
  }

  /** An EndpointSlice this PodIndex follows: in its namespaces and matching spec.services.selector. */
  follows(slice: SliceSubject): boolean {
    return (
      this.spec.sliceSelector !== undefined &&
      (this.namespaces === undefined || this.namespaces.has(slice.namespace)) &&
      this.spec.sliceSelector(slice.labels)
    );
  }

  labelsFor(rec: PodRecord): Record<string, string> {
    return pick(rec.labels, this.spec.labelKeys);
  }

  annotationsFor(rec: PodRecord): Record<string, string> {
    return pick(rec.annotations, this.spec.annotationKeys);
  }
}
