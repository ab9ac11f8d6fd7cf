import type { PodRecord } from "../cache/pod-record";
import type { PodLookup } from "../lookup";
import { IDENTITY_KINDS, type Readiness } from "../readiness";
import type { ViewSet } from "../views/view-set";
import { ClientIpError, callerAddress, type CallerAddress, type TrustedProxies } from "./client-ip";
import { TargetError, describe, type Target, type TargetInput } from "../spec/forward-auth-policy";

/** What the forward-auth route was asked: the proxy's request, reduced to what a decision reads. */
export interface AuthRequest {
  /** ?index=: the PodIndex whose policy applies (optional when exactly one PodIndex has one) */
  index?: string;
  /** the TCP peer's address */
  peer?: string;
  forwardedFor?: string | string[];
  target: TargetInput;
}

export type DenyReason =
  | "NotSynced"
  | "Stale"
  | "BadRequest"
  | "NoPolicy"
  | "UnknownCaller"
  | "HostNetworkCaller"
  | "TerminatedCaller"
  | "AmbiguousCaller"
  | "NamespaceNotAllowed"
  | "CallerLabelsMismatch"
  | "ServiceAccountNotAllowed";

export interface Decision {
  /** 200 allow; 400 malformed request; 403 deny; 503 not synced yet, or the cache is too old (Stale) */
  status: 200 | 400 | 403 | 503;
  allowed: boolean;
  reason: "SameNamespace" | "Granted" | DenyReason;
  message: string;
  /** the PodIndex whose policy decided, once known */
  podindex?: string;
  caller?: CallerAddress;
  pod?: PodRecord;
  target?: Target;
  /** identity headers for the upstream (on allow only) */
  headers: Record<string, string>;
}

/** Prefix of every header podindex hands the proxy; a proxy strips the caller's own copies of them. */
export const HEADER_PREFIX = "X-Podindex-";

/**
 * Decides a forward-auth request: which PodIndex's policy applies, who is calling (by address,
 * through trusted proxies only), what is being called, and whether that caller may call it.
 * Fails closed: anything not positively allowed is a 4xx or 503 with a reason.
 */
export class ForwardAuth {
  constructor(
    private readonly lookup: PodLookup,
    private readonly views: ViewSet,
    private readonly readiness: Readiness,
    private readonly trusted: TrustedProxies,
  ) {}

  decide(req: AuthRequest): Decision {
    const deny = (status: 400 | 403 | 503, reason: DenyReason, message: string, more: Partial<Decision> = {}) =>
      ({ status, allowed: false, reason, message, headers: {}, ...more }) satisfies Decision;

    if (!this.readiness.ready) {
      return deny(503, "NotSynced", `waiting for the initial list of ${this.readiness.waitingFor.join(", ")}`);
    }
    // the caller's identity comes from the pods, the policy from the PodIndexes: both must be current
    const stale = this.readiness.staleReason(IDENTITY_KINDS);
    if (stale) return deny(503, "Stale", stale);
    const policies = this.views.list().filter(v => v.forwardAuth);
    let view;
    if (req.index) {
      view = this.views.get(req.index);
      if (!view?.forwardAuth) {
        const refused = this.views.refusal(req.index);
        return deny(
          403,
          "NoPolicy",
          view
            ? `PodIndex ${req.index} defines no forwardAuth policy`
            : refused !== undefined
              ? `PodIndex ${req.index} exists but is not served: ${refused}`
              : `no valid PodIndex named ${req.index}`,
        );
      }
    } else if (policies.length === 1) {
      view = policies[0];
    } else if (policies.length === 0) {
      return deny(403, "NoPolicy", "no PodIndex defines a forwardAuth policy");
    } else {
      return deny(
        400,
        "BadRequest",
        `several PodIndexes define forwardAuth (${policies.map(v => v.name).join(", ")}): name one with ?index=`,
      );
    }
    const policy = view.forwardAuth!;
    const podindex = view.name;

    let caller: CallerAddress;
    let target: Target;
    try {
      caller = callerAddress(req.peer, req.forwardedFor, this.trusted);
      target = policy.target(req.target);
    } catch (err) {
      if (err instanceof ClientIpError || err instanceof TargetError) {
        return deny(400, "BadRequest", err.message, { podindex });
      }
      throw err;
    }

    const found = this.lookup.byIp(caller.ip, podindex);
    const ctx = { podindex, caller, target };
    switch (found.kind) {
      case "hit":
        break;
      case "miss":
        switch (found.reason) {
          case "hostNetwork":
            return deny(
              403,
              "HostNetworkCaller",
              `${caller.ip} is a node address (hostNetwork pods): it identifies no pod`,
              ctx,
            );
          case "terminal":
            return deny(403, "TerminatedCaller", `${caller.ip} belongs only to pods that have finished`, ctx);
          default:
            return deny(403, "UnknownCaller", `no pod served by PodIndex ${podindex} has IP ${caller.ip}`, ctx);
        }
      case "conflict":
        return deny(
          403,
          "AmbiguousCaller",
          `${caller.ip} is claimed by ${found.pods.length + found.hidden} live pods; refusing to guess`,
          ctx,
        );
      case "stale":
        // the bound passed between the check above and the lookup
        return deny(503, "Stale", found.message, ctx);
      default:
        // not-ready, bad-request and index-not-found were ruled out above
        return deny(403, "UnknownCaller", `no answer for ${caller.ip}`, ctx);
    }

    const pod = found.pod.record;
    const verdict = policy.decide(pod, target);
    if (!verdict.allowed) return deny(403, verdict.reason, verdict.message, { ...ctx, pod });
    return {
      status: 200,
      allowed: true,
      reason: verdict.reason,
      message: `${pod.namespace}/${pod.name} may call ${describe(target)}`,
      ...ctx,
      pod,
      headers: identityHeaders(podindex, caller.ip, pod, policy.headerLabels),
    };
  }
}

function identityHeaders(
  podindex: string,
  ip: string,
  pod: PodRecord,
  labelKeys: readonly string[],
): Record<string, string> {
  const h: Record<string, string> = {
    [`${HEADER_PREFIX}Index`]: podindex,
    [`${HEADER_PREFIX}Pod-Name`]: pod.name,
    [`${HEADER_PREFIX}Pod-Namespace`]: pod.namespace,
    [`${HEADER_PREFIX}Pod-Uid`]: pod.uid,
    [`${HEADER_PREFIX}Pod-Ip`]: ip,
    [`${HEADER_PREFIX}Service-Account`]: pod.serviceAccountName ?? "default",
  };
  // Every header is always sent, empty when there is no value: Caddy 2.6's copy_headers would
  // otherwise pass its own unreplaced placeholder text upstream for a header podindex left out.
  const owner = pod.owners[0];
  h[`${HEADER_PREFIX}Owner-Kind`] = owner?.kind ?? "";
  h[`${HEADER_PREFIX}Owner-Name`] = owner?.name ?? "";
  // label values cannot contain ',' or '=', so "k=v,k2=v2" parses unambiguously
  h[`${HEADER_PREFIX}Labels`] = labelKeys
    .filter(k => Object.hasOwn(pod.labels, k))
    .map(k => `${k}=${pod.labels[k]}`)
    .join(",");
  return h;
}
