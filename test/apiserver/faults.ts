import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ApiError, expired } from "./errors";

/** What a collection GET is: a list's first page, a page asked with a `continue` token, or a watch. */
export type RequestKind = "list" | "continue" | "watch";

export type FaultAction =
  /** an upstream-shaped Status (429/503 with Retry-After); 410 on a watch is an ERROR event in a 200 stream */
  | { type: "status"; code: 410 | 429 | 500 | 503; retryAfterSeconds?: number }
  /** TCP RST before any response: ECONNRESET at the client */
  | { type: "reset" }
  /** watch: 200 headers, then a clean end with no event */
  | { type: "endAtOnce" }
  /** watch: N events, then the connection closes (FIN, or RST), optionally after half of the next line */
  | { type: "cutAfter"; events: number; midLine?: boolean; reset?: boolean }
  /** watch: nothing more after N events (no bookmarks, no timeout), the socket stays open; list: never answered */
  | { type: "stall"; afterEvents?: number }
  /** a slow list page, or slow watch headers */
  | { type: "delay"; ms: number }
  /** list: 200 headers and the first half of the page, then a TCP RST (a connection lost mid-answer) */
  | { type: "cutBody" };

export interface FaultRule {
  /** plural, e.g. "pods", "endpointslices"; default any */
  resource?: string;
  on: RequestKind | RequestKind[];
  action: FaultAction;
  /** how many matching requests it hits; default unlimited */
  times?: number;
}

const KINDS: readonly RequestKind[] = ["list", "continue", "watch"];
const WATCH_ONLY = new Set(["endAtOnce", "cutAfter"]);
const LIST_ONLY = new Set(["cutBody"]);
const CODES = new Set([410, 429, 500, 503]);

const isCount = (n: unknown, min: number) => typeof n === "number" && Number.isInteger(n) && n >= min;

/** The rule's kinds, or a clear error for a rule that cannot act as written. */
function check(rule: FaultRule): Set<RequestKind> {
  const kinds = new Set(Array.isArray(rule.on) ? rule.on : [rule.on]);
  const a = rule.action;
  const bad = (why: string) => new Error(`fault rule ${JSON.stringify(rule)}: ${why}`);
  if (kinds.size === 0 || [...kinds].some(k => !KINDS.includes(k)))
    throw bad(`"on" must name one or more of ${KINDS.join(", ")}`);
  if (rule.times !== undefined && !isCount(rule.times, 1)) throw bad(`"times" must be a whole number ≥ 1`);
  if (WATCH_ONLY.has(a?.type) && [...kinds].some(k => k !== "watch")) throw bad(`${a.type} acts on watches only`);
  if (LIST_ONLY.has(a?.type) && kinds.has("watch")) throw bad(`${a.type} acts on lists and continue pages only`);
  if (a?.type === "status" && !CODES.has(a.code)) throw bad(`status code must be one of ${[...CODES].join(", ")}`);
  if (a?.type === "status" && a.retryAfterSeconds !== undefined && !isCount(a.retryAfterSeconds, 1))
    throw bad(`retryAfterSeconds must be a whole number ≥ 1`);
  if (a?.type === "cutAfter" && !isCount(a.events, 0)) throw bad(`cutAfter.events must be a whole number ≥ 0`);
  if (a?.type === "stall" && a.afterEvents !== undefined && !isCount(a.afterEvents, 0))
    throw bad(`stall.afterEvents must be a whole number ≥ 0`);
  if (a?.type === "delay" && !(typeof a.ms === "number" && a.ms >= 0)) throw bad(`delay.ms must be ≥ 0`);
  if (!["status", "reset", "endAtOnce", "cutAfter", "stall", "delay", "cutBody"].includes(a?.type))
    throw bad(`unknown action`);
  return kinds;
}

interface Armed {
  rule: FaultRule;
  kinds: Set<RequestKind>;
  left: number;
}

/** Faults armed per test: the first armed rule that matches a request acts on it. */
export class Faults {
  readonly #rules = new Set<Armed>();

  /** Arm a rule; the returned function disarms it. */
  add(rule: FaultRule): () => void {
    const armed: Armed = { rule, kinds: check(rule), left: rule.times ?? Infinity };
    this.#rules.add(armed);
    return () => void this.#rules.delete(armed);
  }

  clear(): void {
    this.#rules.clear();
  }

  /** The action for one request, counted against the rule it came from. */
  take(resource: string, kind: RequestKind): FaultAction | undefined {
    for (const armed of this.#rules) {
      if (!armed.kinds.has(kind) || (armed.rule.resource !== undefined && armed.rule.resource !== resource)) continue;
      if (--armed.left <= 0) this.#rules.delete(armed);
      return armed.rule.action;
    }
    return undefined;
  }
}

/** What kube-apiserver v1.32 says when it expires a continue token (transcript 04). */
export const CONTINUE_EXPIRED =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/** A 410 for a continue token: upstream hands back a token (rv -1) that continues at the current version. */
export class ContinueExpired extends ApiError {
  constructor(readonly continueToken: string) {
    super(410, "Expired", CONTINUE_EXPIRED);
  }

  override toStatus(): Record<string, unknown> {
    return { ...super.toStatus(), metadata: { continue: this.continueToken } };
  }
}

/**
 * The Status an injected `status` fault answers a list or continue page (or a watch, for codes
 * other than 410), shaped as kube-apiserver v1.32 sends each: 410 as transcript 04; 429 as the
 * watch cache answers while it (re)initializes; 500 as an etcd timeout; 503 as transcript 10.
 */
export function faultStatus(
  action: Extract<FaultAction, { type: "status" }>,
  kind: RequestKind,
  freshContinue: () => string,
): ApiError {
  switch (action.code) {
    case 410:
      if (kind === "continue") return new ContinueExpired(freshContinue());
      return expired(`The resourceVersion for the provided ${kind} is too old.`);
    case 429:
      return new ApiError(429, "TooManyRequests", "storage is (re)initializing", {
        retryAfterSeconds: action.retryAfterSeconds ?? 1,
      });
    case 500:
      return new ApiError(500, "InternalError", "Internal error occurred: etcdserver: request timed out", {
        causes: [{ message: "etcdserver: request timed out" }],
      });
    case 503:
      return new ApiError(
        503,
        "ServiceUnavailable",
        "the request has been made before all known HTTP paths have been installed, please try again",
        { retryAfterSeconds: action.retryAfterSeconds ?? 5 },
      );
  }
}

/** The Retry-After header upstream's ErrorNegotiated sets for a Status with details.retryAfterSeconds. */
export function retryAfterHeader(err: ApiError): Record<string, string> {
  const s = err.details?.retryAfterSeconds;
  return typeof s === "number" && s > 0 ? { "retry-after": String(s) } : {};
}

/**
 * Writes one watch's lines and applies its fault: `cutAfter` closes the connection after N lines
 * (or in the middle of line N+1) without the chunked terminator, `stall` stops writing for good.
 * Every line counts, BOOKMARKs included. `quiet` is called once nothing more may be written.
 */
export class WatchLines {
  #written = 0;
  #stopped = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly socket: Socket,
    private readonly action: FaultAction | undefined,
    private readonly quiet: () => void,
  ) {
    this.#check();
  }

  /** nothing more will be written (cut, stalled, or the client went away) */
  get stopped(): boolean {
    return this.#stopped || this.res.destroyed || this.socket.destroyed;
  }

  write(line: string): void {
    if (this.stopped) return;
    const a = this.action;
    if (a?.type === "cutAfter" && a.midLine && this.#written === a.events) {
      this.res.write(line.slice(0, Math.max(1, Math.floor(line.length / 2))));
      return this.#cut(a.reset);
    }
    this.res.write(line);
    this.#written++;
    this.#check();
  }

  #check(): void {
    const a = this.action;
    if (a?.type === "cutAfter" && !a.midLine && this.#written >= a.events) this.#cut(a.reset);
    else if (a?.type === "stall" && this.#written >= (a.afterEvents ?? 0)) this.#stop();
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.quiet();
  }

  #cut(reset?: boolean): void {
    this.#stop();
    // An RST that overtakes unread data can reach the client as a plain EOF, so it goes once the
    // client (on loopback) has had a turn to read what was written.
    if (reset) this.socket.write("", () => setTimeout(() => this.socket.resetAndDestroy(), 10));
    else this.socket.end();
  }
}
