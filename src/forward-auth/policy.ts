import type { PodRecord } from "../cache/pod-record";
import type { ForwardAuthSpec } from "../kinds/podindex";
import { isDnsLabel, isDnsSubdomain } from "../names";
import { SpecError, compileSelector, isValidLabelKey, type LabelMatcher } from "../views/selector";

/** What is being called: a namespace and, when known, a name (a function, a Service...). */
export interface Target {
  namespace: string;
  name?: string;
  /** where it was read: "query" or the header a pattern matched */
  from: string;
}

/** The request parts a target can be read from. */
export interface TargetInput {
  namespace?: string;
  name?: string;
  forwardedUri?: string;
  forwardedHost?: string;
}

export type Verdict =
  | { allowed: true; reason: "SameNamespace" | "Granted" }
  | {
      allowed: false;
      reason: "NamespaceNotAllowed" | "CallerLabelsMismatch" | "ServiceAccountNotAllowed";
      message: string;
    };

/** A request whose target cannot be read: refused with 400. */
export class TargetError extends Error {}

const HEADERS = { "x-forwarded-uri": "forwardedUri", "x-forwarded-host": "forwardedHost" } as const;
type PatternHeader = keyof typeof HEADERS;

interface Pattern {
  header: PatternHeader;
  regex: RegExp;
  namespace?: string;
}

function fail(path: string, message: string): never {
  throw new SpecError("InvalidForwardAuth", `${path}: ${message}`);
}

/** The named groups a regular expression defines (an alternative that matches "" reveals them all). */
function groupNames(re: RegExp): string[] {
  return Object.keys(new RegExp(`${re.source}|`).exec("")?.groups ?? {});
}

function compilePattern(p: { header?: unknown; regex?: unknown; namespace?: unknown }, path: string): Pattern {
  const header = String(p.header ?? "").toLowerCase();
  if (!(header in HEADERS))
    fail(`${path}.header`, `Unsupported value: ${JSON.stringify(p.header)}: "X-Forwarded-Uri" or "X-Forwarded-Host"`);
  let regex: RegExp;
  try {
    regex = new RegExp(String(p.regex ?? ""));
  } catch (err) {
    fail(`${path}.regex`, `Invalid value: ${(err as Error).message}`);
  }
  const groups = groupNames(regex);
  const extra = groups.filter(g => g !== "namespace" && g !== "name");
  if (extra.length)
    fail(`${path}.regex`, `Invalid value: unknown named group(s) ${extra.join(", ")}: use namespace and name`);
  if (p.namespace !== undefined && !isDnsLabel(p.namespace))
    fail(`${path}.namespace`, `Invalid value: ${JSON.stringify(p.namespace)}: a namespace name`);
  if (groups.includes("namespace") === (p.namespace !== undefined)) {
    fail(
      path,
      "Invalid value: give the target namespace either as a (?<namespace>...) group or as `namespace`, exactly one",
    );
  }
  return { header: header as PatternHeader, regex, namespace: p.namespace as string | undefined };
}

/**
 * A PodIndex's forward-auth policy, compiled from spec.forwardAuth: where a call's target is read
 * from, and whether a caller pod may call it. Pure: the route feeds it the caller and the request.
 */
export class ForwardAuthPolicy {
  private constructor(
    private readonly sameNamespace: boolean,
    /** target namespace → grants (names undefined: any name) */
    private readonly grants: ReadonlyMap<string, { names?: ReadonlySet<string>; from: ReadonlySet<string> }[]>,
    private readonly callerMatches: LabelMatcher | undefined,
    private readonly serviceAccounts: readonly string[] | undefined,
    private readonly patterns: readonly Pattern[],
    /** caller label keys sent upstream in X-Podindex-Labels */
    readonly headerLabels: readonly string[],
  ) {}

  /** Throws SpecError (reason InvalidForwardAuth, or the selector's) naming the offending field. */
  static compile(spec: ForwardAuthSpec, path = "spec.forwardAuth"): ForwardAuthPolicy {
    const grants = new Map<string, { names?: ReadonlySet<string>; from: ReadonlySet<string> }[]>();
    (spec.allow ?? []).forEach((g, i) => {
      const at = `${path}.allow[${i}]`;
      if (!isDnsLabel(g.namespace))
        fail(`${at}.namespace`, `Invalid value: ${JSON.stringify(g.namespace)}: a namespace name`);
      (g.names ?? []).forEach((n, j) => {
        if (!isDnsSubdomain(n)) fail(`${at}.names[${j}]`, `Invalid value: ${JSON.stringify(n)}: an object name`);
      });
      if (!g.from?.length) fail(`${at}.from`, `Required value: the caller namespaces ("*" for any)`);
      g.from.forEach((n, j) => {
        if (n !== "*" && !isDnsLabel(n))
          fail(`${at}.from[${j}]`, `Invalid value: ${JSON.stringify(n)}: a namespace name or "*"`);
      });
      const list = grants.get(g.namespace) ?? [];
      list.push({ names: g.names?.length ? new Set(g.names) : undefined, from: new Set(g.from) });
      grants.set(g.namespace, list);
    });
    (spec.serviceAccounts ?? []).forEach((sa, i) => {
      const [a, b] = sa.split("/");
      const ok =
        sa.split("/").length <= 2 && (b === undefined ? isDnsSubdomain(a) : isDnsLabel(a) && isDnsSubdomain(b));
      if (!ok)
        fail(`${path}.serviceAccounts[${i}]`, `Invalid value: ${JSON.stringify(sa)}: "name" or "namespace/name"`);
    });
    (spec.headers?.labels ?? []).forEach((key, i) => {
      if (!isValidLabelKey(key))
        fail(`${path}.headers.labels[${i}]`, `Invalid value: ${JSON.stringify(key)}: a label key`);
    });
    return new ForwardAuthPolicy(
      spec.sameNamespace ?? true,
      grants,
      spec.callerSelector ? compileSelector(spec.callerSelector, `${path}.callerSelector`) : undefined,
      spec.serviceAccounts?.length ? spec.serviceAccounts : undefined,
      (spec.target?.patterns ?? []).map((p, i) => compilePattern(p, `${path}.target.patterns[${i}]`)),
      spec.headers?.labels ?? [],
    );
  }

  /**
   * The call's target: ?namespace= (and ?name=) when given, which the proxy fills from its own
   * placeholders; otherwise the first pattern that matches its header. Throws TargetError.
   */
  target(input: TargetInput): Target {
    if (input.namespace !== undefined && input.namespace !== "") {
      return checked(input.namespace, input.name || undefined, "query");
    }
    for (const p of this.patterns) {
      const value = input[HEADERS[p.header]];
      const m = value === undefined ? null : p.regex.exec(value);
      if (!m) continue;
      return checked(m.groups?.namespace ?? p.namespace ?? "", m.groups?.name || undefined, p.header);
    }
    throw new TargetError(
      this.patterns.length
        ? "no target: no ?namespace= parameter and no target pattern matched X-Forwarded-Uri / X-Forwarded-Host"
        : "no target: the ?namespace= parameter is required (this PodIndex defines no target patterns)",
    );
  }

  decide(caller: PodRecord, target: Target): Verdict {
    const ns = caller.namespace;
    let reason: "SameNamespace" | "Granted" | undefined;
    if (this.sameNamespace && ns === target.namespace) reason = "SameNamespace";
    else if (
      (this.grants.get(target.namespace) ?? []).some(
        g =>
          (g.from.has("*") || g.from.has(ns)) && (!g.names || (target.name !== undefined && g.names.has(target.name))),
      )
    )
      reason = "Granted";
    if (!reason) {
      return {
        allowed: false,
        reason: "NamespaceNotAllowed",
        message: `namespace ${ns} may not call ${describe(target)}`,
      };
    }
    if (this.callerMatches && !this.callerMatches(caller.labels)) {
      return {
        allowed: false,
        reason: "CallerLabelsMismatch",
        message: `pod ${ns}/${caller.name} lacks the required labels`,
      };
    }
    const sa = caller.serviceAccountName ?? "default";
    if (this.serviceAccounts && !this.serviceAccounts.some(s => s === sa || s === `${ns}/${sa}`)) {
      return {
        allowed: false,
        reason: "ServiceAccountNotAllowed",
        message: `service account ${ns}/${sa} is not among the allowed ones`,
      };
    }
    return { allowed: true, reason };
  }
}

function checked(namespace: string, name: string | undefined, from: string): Target {
  if (!isDnsLabel(namespace))
    throw new TargetError(`target namespace ${JSON.stringify(namespace)} (from ${from}) is not a namespace name`);
  if (name !== undefined && !isDnsSubdomain(name))
    throw new TargetError(`target name ${JSON.stringify(name)} (from ${from}) is not an object name`);
  return { namespace, name, from };
}

export function describe(target: Target): string {
  return target.name ? `${target.namespace}/${target.name}` : `namespace ${target.namespace}`;
}
