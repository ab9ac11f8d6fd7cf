import { RE2JS } from "re2js";
import type { PodRecord } from "../cache/pod-record";
import type { ForwardAuthSpec } from "../kinds/podindex";
import { isDnsLabel, isDnsSubdomain } from "../names";
import { SpecError, compileSelector, isValidLabelKey, type LabelMatcher } from "./selector";

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

const HEADERS = ["x-forwarded-uri", "x-forwarded-host"] as const;
type PatternHeader = (typeof HEADERS)[number];

interface Pattern {
  header: PatternHeader;
  /** RE2 (re2js): matching is linear in the input, whatever an administrator wrote */
  regex: RE2JS;
  groups: ReadonlySet<string>;
  namespace?: string;
}

/** What may not appear in X-Forwarded-Uri as sent: backslash, fragment, space and control characters. */
// eslint-disable-next-line no-control-regex -- control characters are what these refuse
const RAW_AMBIGUOUS = /[\\#\u0000-\u0020\u007f]/;
/** What may not appear in a decoded path segment: it would end the segment or change its meaning. */
// eslint-disable-next-line no-control-regex -- as above
const DECODED_AMBIGUOUS = /[/\\?#%\u0000-\u001f\u007f]/;
/** A dot segment, also as Tomcat-style "..;params". */
const DOT_SEGMENT = /^\.\.?(;|$)/;

/**
 * The path of an X-Forwarded-Uri, percent-decoded, when every upstream must read it the same way;
 * otherwise throws TargetError. Refused: a dot segment (`.`, `..`, encoded or `..;x`), an empty
 * segment (`//`, except one trailing `/`), a backslash, a fragment, control characters, a malformed
 * escape, and escapes that decode to `/`, `\`, `?`, `#`, `%` (double encoding) or controls, also after
 * Unicode NFKC folding (a full-width `．．` is `..` to some upstreams). The query is not part of it.
 * podindex decides on the target it reads here; the proxy forwards the raw URI upstream, so a path
 * an upstream could resolve to another target (`/fn/allowed/../../other/secret`) is never allowed.
 */
export function forwardedPath(uri: string): string {
  const ambiguous = (what: string) =>
    new TargetError(`X-Forwarded-Uri is ambiguous (${what}): refused, as an upstream may read another target`);
  if (RAW_AMBIGUOUS.test(uri)) throw ambiguous("a backslash, fragment, space or control character");
  const query = uri.indexOf("?");
  const path = query === -1 ? uri : uri.slice(0, query);
  if (!path.startsWith("/")) throw ambiguous("not a path starting with /");
  const segments = path.slice(1).split("/");
  const decoded = segments.map((raw, i) => {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw ambiguous("a malformed percent-escape");
    }
    if (segment === "" && i < segments.length - 1) throw ambiguous("an empty segment");
    for (const form of [segment, segment.normalize("NFKC")]) {
      if (DOT_SEGMENT.test(form)) throw ambiguous("a dot segment");
      if (DECODED_AMBIGUOUS.test(form))
        throw ambiguous("an escape that decodes to /, \\, ?, #, % or a control character");
    }
    return segment;
  });
  return `/${decoded.join("/")}`;
}

function fail(path: string, message: string): never {
  throw new SpecError("InvalidForwardAuth", `${path}: ${message}`);
}

function compilePattern(p: { header?: unknown; regex?: unknown; namespace?: unknown }, path: string): Pattern {
  const header = String(p.header ?? "").toLowerCase();
  if (!(HEADERS as readonly string[]).includes(header))
    fail(`${path}.header`, `Unsupported value: ${JSON.stringify(p.header)}: "X-Forwarded-Uri" or "X-Forwarded-Host"`);
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(String(p.regex ?? ""));
  } catch (err) {
    fail(`${path}.regex`, `Invalid value: ${(err as Error).message} (RE2 syntax: no lookarounds or backreferences)`);
  }
  const groups = Object.keys(regex.namedGroups());
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
  return {
    header: header as PatternHeader,
    regex,
    groups: new Set(groups),
    namespace: p.namespace as string | undefined,
  };
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
   * placeholders; otherwise the first pattern that matches its header (X-Forwarded-Uri: its
   * decoded path, see forwardedPath). Throws TargetError, also for an ambiguous X-Forwarded-Uri
   * when the target is read from the query: the upstream is handed that URI all the same.
   */
  target(input: TargetInput): Target {
    const path = input.forwardedUri === undefined ? undefined : forwardedPath(input.forwardedUri);
    if (input.namespace !== undefined && input.namespace !== "") {
      return checked(input.namespace, input.name || undefined, "query");
    }
    for (const p of this.patterns) {
      const value = p.header === "x-forwarded-uri" ? path : input.forwardedHost;
      if (value === undefined) continue;
      const m = p.regex.matcher(value);
      if (!m.find()) continue;
      const group = (g: string) => (p.groups.has(g) ? m.group(g) : null) || undefined;
      return checked(group("namespace") ?? p.namespace ?? "", group("name"), p.header);
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
