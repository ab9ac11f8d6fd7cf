import { ForwardAuthPolicy } from "../forward-auth/policy";
import type { PodRecord } from "../cache/pod-record";
import type { SliceRecord } from "../endpoints/slice-record";
import type { PodIndex, PostgresSinkSpec } from "../kinds/podindex";
import { TableNameError, parseTableName } from "../sinks/postgres-mirror";
import { isDnsLabel, isDnsSubdomain } from "../names";
import { SpecError, compileSelector, isValidLabelKey, type LabelMatcher } from "./selector";

function pick(source: Readonly<Record<string, string>>, keys: readonly string[] | "all"): Record<string, string> {
  if (keys === "all") return { ...source };
  const out: Record<string, string> = {};
  for (const key of keys) if (Object.hasOwn(source, key)) out[key] = source[key];
  return out;
}

/**
 * A PodIndex applied to the cache: which pods it selects (namespaces and label selector) and
 * what it exposes of them. Built only from a valid spec; fromResource throws SpecError otherwise.
 */
export class PodIndexView {
  private constructor(
    readonly name: string,
    /** the PodIndex object's uid: a recreated PodIndex of the same name is another view */
    readonly uid: string,
    readonly generation: number,
    /** undefined: every namespace */
    readonly namespaces: ReadonlySet<string> | undefined,
    private readonly matches: LabelMatcher,
    private readonly labelKeys: readonly string[] | "all",
    readonly annotationKeys: readonly string[],
    /** spec.forwardAuth compiled; undefined when the PodIndex answers no forward-auth */
    readonly forwardAuth: ForwardAuthPolicy | undefined,
    /** spec.services' slice selector; undefined when the PodIndex follows no Services */
    private readonly slicesMatch: LabelMatcher | undefined,
    /** spec.services.postgres, validated */
    readonly postgres: PostgresSinkSpec | undefined,
  ) {}

  static fromResource(pi: PodIndex): PodIndexView {
    const spec = pi.spec ?? {};
    (spec.namespaces ?? []).forEach((ns, i) => {
      if (!isDnsLabel(ns)) {
        throw new SpecError(
          "InvalidNamespace",
          `spec.namespaces[${i}]: Invalid value: ${JSON.stringify(ns)}: a namespace name is a DNS label (lower-case letters, digits and '-', at most 63)`,
        );
      }
    });
    const labels = spec.expose?.labels ?? ["*"];
    labels.forEach((key, i) => {
      if (key !== "*" && !isValidLabelKey(key)) {
        throw new SpecError(
          "InvalidExpose",
          `spec.expose.labels[${i}]: Invalid value: ${JSON.stringify(key)}: "*" or a label key`,
        );
      }
    });
    const annotations = spec.expose?.annotations ?? [];
    annotations.forEach((key, i) => {
      if (key === "*") {
        throw new SpecError(
          "InvalidExpose",
          `spec.expose.annotations[${i}]: Forbidden: annotations are never exposed wholesale (they can hold secrets); list the keys`,
        );
      }
      if (!isValidLabelKey(key)) {
        throw new SpecError(
          "InvalidExpose",
          `spec.expose.annotations[${i}]: Invalid value: ${JSON.stringify(key)}: an annotation key`,
        );
      }
    });
    return new PodIndexView(
      pi.metadata?.name ?? "",
      pi.metadata?.uid ?? "",
      pi.metadata?.generation ?? 0,
      spec.namespaces?.length ? new Set(spec.namespaces) : undefined,
      compileSelector(spec.podSelector),
      labels.includes("*") ? "all" : labels,
      annotations,
      spec.forwardAuth ? ForwardAuthPolicy.compile(spec.forwardAuth) : undefined,
      spec.services ? compileSelector(spec.services.selector, "spec.services.selector") : undefined,
      spec.services?.postgres ? checkPostgres(spec.services.postgres) : undefined,
    );
  }

  selects(rec: PodRecord): boolean {
    return (this.namespaces === undefined || this.namespaces.has(rec.namespace)) && this.matches(rec.labels);
  }

  /** whether this PodIndex follows Services at all */
  get followsServices(): boolean {
    return this.slicesMatch !== undefined;
  }

  /** An EndpointSlice this PodIndex follows: in its namespaces and matching spec.services.selector. */
  follows(slice: SliceRecord): boolean {
    return (
      this.slicesMatch !== undefined &&
      (this.namespaces === undefined || this.namespaces.has(slice.namespace)) &&
      this.slicesMatch(slice.labels)
    );
  }

  labelsFor(rec: PodRecord): Record<string, string> {
    return pick(rec.labels, this.labelKeys);
  }

  annotationsFor(rec: PodRecord): Record<string, string> {
    return pick(rec.annotations, this.annotationKeys);
  }
}

function checkPostgres(pg: PostgresSinkSpec): PostgresSinkSpec {
  const at = "spec.services.postgres";
  if (!isDnsSubdomain(pg.secretRef?.name) || !isDnsLabel(pg.secretRef?.namespace)) {
    throw new SpecError("InvalidSink", `${at}.secretRef: Invalid value: a Secret's name and namespace are required`);
  }
  try {
    parseTableName(pg.table ?? "public.server");
  } catch (err) {
    if (err instanceof TableNameError) throw new SpecError("InvalidSink", `${at}.table: Invalid value: ${err.message}`);
    throw err;
  }
  if (pg.cluster !== undefined && (pg.cluster === "" || pg.cluster.length > 253)) {
    throw new SpecError("InvalidSink", `${at}.cluster: Invalid value: 1 to 253 characters`);
  }
  if (pg.createSchema !== undefined && typeof pg.createSchema !== "boolean") {
    throw new SpecError("InvalidSink", `${at}.createSchema: Invalid value: true or false`);
  }
  return {
    secretRef: pg.secretRef,
    table: pg.table ?? "public.server",
    cluster: pg.cluster ?? "default",
    createSchema: pg.createSchema ?? true,
  };
}
