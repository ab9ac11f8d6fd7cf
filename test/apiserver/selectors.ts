import type { LabelSelectorRequirement } from "../../src/kinds/podindex";
import { compileSelector, isValidLabelKey, isValidLabelValue, SpecError } from "../../src/spec/selector";
import { badRequest } from "./errors";
import type { KObject } from "./resources";

export type ObjectFilter = (obj: KObject) => boolean;

/** Split on commas that are not inside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (current.trim() !== "") out.push(current.trim());
  return out;
}

/**
 * A labelSelector query string (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`)
 * as metav1 requirements, matched by the product's own matcher (so there is one implementation).
 */
export function parseLabelSelector(selector: string | null): ObjectFilter {
  if (!selector || selector.trim() === "") return () => true;
  const requirements: LabelSelectorRequirement[] = terms(selector).map(term => {
    const set = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3].split(",").map(v => v.trim());
      return { key: set[1], operator: set[2] === "in" ? "In" : "NotIn", values };
    }
    const cmp = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
    if (cmp) return { key: cmp[1], operator: cmp[2] === "!=" ? "NotIn" : "In", values: [cmp[3]] };
    const not = /^!\s*([^\s!=(),]+)$/.exec(term);
    if (not) return { key: not[1], operator: "DoesNotExist" };
    if (/^[^\s!=(),]+$/.test(term)) return { key: term, operator: "Exists" };
    throw badRequest(`unable to parse requirement: found '${term}', expected: !, identifier, or 'end of string'`);
  });
  for (const r of requirements) {
    if (!isValidLabelKey(r.key))
      throw badRequest(
        `unable to parse requirement: <nil>: Invalid value: "${r.key}": name part must consist of alphanumeric characters, '-', '_' or '.'`,
      );
    for (const v of r.values ?? []) {
      if (!isValidLabelValue(v))
        throw badRequest(`unable to parse requirement: values[0][${r.key}]: Invalid value: "${v}"`);
    }
  }
  try {
    const match = compileSelector({ matchExpressions: requirements }, "labelSelector");
    return obj => match(obj.metadata?.labels);
  } catch (err) {
    if (err instanceof SpecError) throw badRequest(err.message);
    throw err;
  }
}

const COMMON_FIELDS: Record<string, (o: KObject) => unknown> = {
  "metadata.name": o => o.metadata?.name,
  "metadata.namespace": o => o.metadata?.namespace,
};

const POD_FIELDS: Record<string, (o: KObject) => unknown> = {
  "spec.nodeName": o => o.spec?.nodeName ?? "",
  "spec.restartPolicy": o => o.spec?.restartPolicy ?? "",
  "spec.schedulerName": o => o.spec?.schedulerName ?? "",
  "spec.serviceAccountName": o => o.spec?.serviceAccountName ?? "",
  "spec.hostNetwork": o => String(o.spec?.hostNetwork ?? false),
  "status.phase": o => o.status?.phase ?? "",
  "status.podIP": o => o.status?.podIP ?? "",
  // accepted by kube-apiserver, but its value never equals anything (transcript 01)
  "status.podIPs": () => undefined,
  "status.nominatedNodeName": o => o.status?.nominatedNodeName ?? "",
};

/** The field labels kube-apiserver indexes for core/v1 Events (what `kubectl describe` selects by). */
const EVENT_FIELDS: Record<string, (o: KObject) => unknown> = {
  "involvedObject.kind": o => o.involvedObject?.kind ?? "",
  "involvedObject.namespace": o => o.involvedObject?.namespace ?? "",
  "involvedObject.name": o => o.involvedObject?.name ?? "",
  "involvedObject.uid": o => o.involvedObject?.uid ?? "",
  "involvedObject.apiVersion": o => o.involvedObject?.apiVersion ?? "",
  "involvedObject.resourceVersion": o => o.involvedObject?.resourceVersion ?? "",
  "involvedObject.fieldPath": o => o.involvedObject?.fieldPath ?? "",
  reason: o => o.reason ?? "",
  reportingComponent: o => o.reportingComponent ?? "",
  source: o => o.source?.component ?? "",
  type: o => o.type ?? "",
};

const KIND_FIELDS: Record<string, Record<string, (o: KObject) => unknown>> = { Pod: POD_FIELDS, Event: EVENT_FIELDS };

/** A fieldSelector (`f=v`, `f==v`, `f!=v`, comma-joined); unsupported fields are a 400 as upstream. */
export function parseFieldSelector(selector: string | null, kind: string): ObjectFilter {
  if (!selector || selector.trim() === "") return () => true;
  const fields = { ...COMMON_FIELDS, ...KIND_FIELDS[kind] };
  const tests = selector.split(",").map(term => {
    const m = /^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field, op, value] = m;
    const read = fields[field];
    if (!read) throw badRequest(`field label not supported: ${field}`);
    if (field === "status.podIPs") return () => op === "!=" || value === "";
    return (o: KObject) => (read(o) === value) === (op !== "!=");
  });
  return obj => tests.every(t => t(obj));
}
