import type { PodIndex, PostgresSinkSpec } from "../kinds/podindex";
import { isDnsLabel, isDnsSubdomain } from "../names";
import { ForwardAuthPolicy } from "./forward-auth-policy";
import { SpecError, compileSelector, isValidLabelKey, type LabelMatcher } from "./selector";
import { TableNameError, parseTableName } from "./table-name";

/** spec.services.postgres, validated, with its defaults filled in. */
export type PostgresSink = Required<PostgresSinkSpec>;

/**
 * A PodIndex's spec, validated and compiled: what podindex serves of it. The one place that says
 * what a valid PodIndex is; everything else (views, forward-auth, mirrors) is built from this.
 */
export interface CompiledPodIndex {
  name: string;
  /** a recreated PodIndex of the same name has another uid */
  uid: string;
  generation: number;
  /** undefined: every namespace */
  namespaces: ReadonlySet<string> | undefined;
  podSelector: LabelMatcher;
  labelKeys: readonly string[] | "all";
  annotationKeys: readonly string[];
  /** spec.forwardAuth; undefined when the PodIndex answers no forward-auth */
  forwardAuth: ForwardAuthPolicy | undefined;
  /** spec.services.selector; undefined when the PodIndex follows no Services */
  sliceSelector: LabelMatcher | undefined;
  postgres: PostgresSink | undefined;
}

/** Validate and compile a PodIndex; throws SpecError (a reason for the Ready condition) naming the offending field. */
export function compilePodIndex(pi: PodIndex): CompiledPodIndex {
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
  return {
    name: pi.metadata?.name ?? "",
    uid: pi.metadata?.uid ?? "",
    generation: pi.metadata?.generation ?? 0,
    namespaces: spec.namespaces?.length ? new Set(spec.namespaces) : undefined,
    podSelector: compileSelector(spec.podSelector),
    labelKeys: labels.includes("*") ? "all" : labels,
    annotationKeys: annotations,
    forwardAuth: spec.forwardAuth ? ForwardAuthPolicy.compile(spec.forwardAuth) : undefined,
    sliceSelector: spec.services ? compileSelector(spec.services.selector, "spec.services.selector") : undefined,
    postgres: spec.services?.postgres ? compilePostgres(spec.services.postgres) : undefined,
  };
}

function compilePostgres(pg: PostgresSinkSpec): PostgresSink {
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
