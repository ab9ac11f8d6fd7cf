import { isDnsSubdomain } from "../names";
import type { LabelSelector } from "../kinds/podindex";

/**
 * Kubernetes label-selector semantics (metav1.LabelSelector) and the apiserver's validation of it.
 * Hand-written: no maintained npm package implements these semantics and checks; the simulated
 * apiserver parses selector query strings into the same requirements and matches with this too.
 */
export class SpecError extends Error {
  constructor(
    /** CamelCase, for a condition's reason */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "SpecError";
  }
}

export type LabelMatcher = (labels: Readonly<Record<string, string>> | undefined) => boolean;

/** A label's value, or undefined: own properties only, so "constructor" or "__proto__" are labels like any other. */
export function labelValue(labels: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  return labels !== undefined && Object.hasOwn(labels, key) ? labels[key] : undefined;
}

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"];

/** A qualified label key: an optional DNS-subdomain prefix (≤253) and "/", then a name (≤63). */
export function isValidLabelKey(key: string): boolean {
  const slash = key.indexOf("/");
  const [prefix, name] = slash === -1 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return false;
  return name.length > 0 && name.length <= 63 && NAME.test(name);
}

export function isValidLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && NAME.test(value));
}

function checkKey(key: unknown, path: string): string {
  if (typeof key !== "string" || !isValidLabelKey(key)) {
    throw new SpecError(
      "InvalidLabelKey",
      `${path}: Invalid value: ${JSON.stringify(key)}: a label key must be a name of at most 63 characters (letters, digits, '-', '_', '.'; starting and ending alphanumeric), optionally prefixed by a DNS subdomain and '/'`,
    );
  }
  return key;
}

function checkValue(value: unknown, path: string): string {
  if (typeof value !== "string" || !isValidLabelValue(value)) {
    throw new SpecError(
      "InvalidLabelValue",
      `${path}: Invalid value: ${JSON.stringify(value)}: a label value must be empty or at most 63 characters (letters, digits, '-', '_', '.'; starting and ending alphanumeric)`,
    );
  }
  return value;
}

/**
 * Compile a selector into a matcher: matchLabels AND every matchExpression. Absent or empty
 * selects everything. NotIn and DoesNotExist also match objects without the key.
 * Throws SpecError naming the offending path.
 */
export function compileSelector(selector: LabelSelector | undefined, path = "spec.podSelector"): LabelMatcher {
  const tests: LabelMatcher[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    checkKey(key, `${path}.matchLabels`);
    checkValue(value, `${path}.matchLabels[${key}]`);
    tests.push(labels => labelValue(labels, key) === value);
  }
  (selector?.matchExpressions ?? []).forEach((req, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const key = checkKey(req?.key, `${at}.key`);
    const values = req.values ?? [];
    if (!OPERATORS.includes(req.operator)) {
      throw new SpecError(
        "InvalidSelector",
        `${at}.operator: Unsupported value: ${JSON.stringify(req.operator)}: supported values: ${OPERATORS.map(o => `"${o}"`).join(", ")}`,
      );
    }
    if ((req.operator === "In" || req.operator === "NotIn") && values.length === 0) {
      throw new SpecError(
        "InvalidSelector",
        `${at}.values: Required value: must be specified when \`operator\` is 'In' or 'NotIn'`,
      );
    }
    if ((req.operator === "Exists" || req.operator === "DoesNotExist") && values.length > 0) {
      throw new SpecError(
        "InvalidSelector",
        `${at}.values: Forbidden: may not be specified when \`operator\` is 'Exists' or 'DoesNotExist'`,
      );
    }
    const set = new Set(values.map((v, j) => checkValue(v, `${at}.values[${j}]`)));
    switch (req.operator) {
      case "In":
        tests.push(labels => {
          const value = labelValue(labels, key);
          return value !== undefined && set.has(value);
        });
        break;
      case "NotIn":
        tests.push(labels => {
          const value = labelValue(labels, key);
          return value === undefined || !set.has(value);
        });
        break;
      case "Exists":
        tests.push(labels => labelValue(labels, key) !== undefined);
        break;
      default:
        tests.push(labels => labelValue(labels, key) === undefined);
    }
  });
  return labels => tests.every(test => test(labels));
}
