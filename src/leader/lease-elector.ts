import {
  ApiException,
  CoordinationV1Api,
  KubeConfig,
  Observable,
  V1MicroTime,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type V1Lease,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Leadership } from "../manager/leadership";

/** Time as the elector sees it; tests inject a manual clock. */
export interface Clock {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: handle => clearTimeout(handle as NodeJS.Timeout),
};

export interface LeaseElectorOptions {
  /** the Lease (coordination.k8s.io/v1) all replicas compete for */
  name: string;
  namespace: string;
  /** this replica's holderIdentity, unique per process (see leaseConfig) */
  identity: string;
  /** how long others wait, from the last change they saw, before they take the lease over (whole seconds; default 15) */
  leaseDurationSeconds?: number;
  /** how long a leader keeps trying to renew before it steps down; below leaseDurationSeconds (default 10) */
  renewDeadlineSeconds?: number;
  /** the wait between attempts to acquire or renew (default 2) */
  retryPeriodSeconds?: number;
  /** one API call is abandoned after this (ms; default max(renewDeadline / 2, 1 s), as client-go's lock client) */
  requestTimeoutMs?: number;
  kubeConfig?: KubeConfig;
  clock?: Clock;
  log?: Logger;
}

/** client-go's JitterFactor: renewDeadline must exceed it × retryPeriod */
const JITTER_FACTOR = 1.2;

/** What is wrong with these timings, by client-go's rules (NewLeaderElector), or undefined. */
export function leaseTimingsProblem(lease: number, renew: number, retry: number): string | undefined {
  if (!Number.isInteger(lease) || lease < 1)
    return `leaseDurationSeconds must be a whole number of seconds, at least 1, got ${lease}`;
  if (!(retry > 0)) return `retryPeriodSeconds must be greater than zero, got ${retry}`;
  if (!(lease > renew)) return `leaseDurationSeconds (${lease}) must be greater than renewDeadlineSeconds (${renew})`;
  if (!(renew > JITTER_FACTOR * retry))
    return `renewDeadlineSeconds (${renew}) must be greater than ${JITTER_FACTOR} × retryPeriodSeconds (${retry})`;
  return undefined;
}

/** client-go's LeaderElectionRecord as kept in a Lease's spec. */
interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

/** The record a Lease holds, in a fixed key order (so two reads of the same record compare equal). */
function recordOf(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  // client-node hands MicroTimes over as the strings the apiserver sent
  const time = (t: unknown) => (t === undefined || t === null ? undefined : String(t));
  return {
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: time(spec.acquireTime),
    renewTime: time(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

/** A MicroTime (6 fraction digits, which the apiserver insists on) for `ms`. */
const microTime = (ms: number) => new V1MicroTime(ms);

/** Each call carries an abort signal (client-node takes it through a middleware only). */
function withSignal(signal: AbortSignal): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: ctx => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: ctx => new Observable(Promise.resolve(ctx)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

const statusCode = (err: unknown) => (err instanceof ApiException ? err.code : undefined);

/** What the apiserver said, short: its Status message, or the transport error. */
function reason(err: unknown): string {
  if (err instanceof ApiException) {
    try {
      return `${err.code} ${(JSON.parse(String(err.body)) as { message?: string }).message ?? ""}`.trim();
    } catch {
      return `${err.code}`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it
 * (the algorithm controller-runtime's managers use):
 * - every retryPeriod, try to acquire or renew: a leader first PUTs its renewal with the
 *   resourceVersion it last wrote; on any failure (a 409 included) it re-reads the Lease;
 * - a candidate creates the Lease when there is none, and takes it over (PUT with the version it
 *   read, leaseTransitions + 1) when it is released (no holderIdentity) or expired: nothing in the
 *   record changed for leaseDurationSeconds by this replica's own clock, counted from when it last
 *   saw the record change (never by comparing renewTime with its clock, so clock skew between
 *   nodes does not matter);
 * - a leader that cannot renew steps down renewDeadline after its first failed renewal cycle began
 *   (retryPeriod after its last success), before any other replica may consider the lease expired;
 *   it steps down at once when it reads another holder;
 * - stop() reports the loss, then releases (holderIdentity "", leaseDurationSeconds 1, as
 *   client-go's ReleaseOnCancel), so another replica takes over at its next attempt.
 * Unlike client-go's Run, a replica that lost leadership keeps competing (onChange reports both
 * ways), and attempts are not jittered: retryPeriod apart, so a takeover after a release takes at
 * most one retryPeriod.
 */
export class LeaseElector implements Leadership {
  readonly identity: string;
  readonly #name: string;
  readonly #namespace: string;
  readonly #leaseSeconds: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #requestTimeoutMs: number;
  readonly #clock: Clock;
  readonly #log?: Logger;
  readonly #api: CoordinationV1Api;
  readonly #listeners: ((leading: boolean) => void)[] = [];
  /** the Lease as last read or written: its resourceVersion guards the next PUT */
  #lease: V1Lease | undefined;
  /** the record last seen, as JSON, and when (by this clock) it was first seen so */
  #observed: { record: LeaseRecord; raw: string; at: number } | undefined;
  #leading = false;
  /** while leading: the end of the current renew cycle */
  #deadline = 0;
  #started = false;
  #stopped = false;
  #timer: unknown;
  #stopping: Promise<void> | undefined;
  /** the attempt in flight, if any */
  #attempt: Promise<void> | undefined;

  constructor(opts: LeaseElectorOptions) {
    const lease = opts.leaseDurationSeconds ?? 15;
    const renew = opts.renewDeadlineSeconds ?? 10;
    const retry = opts.retryPeriodSeconds ?? 2;
    if (!opts.identity) throw new Error("the lease elector needs a holder identity");
    const problem = leaseTimingsProblem(lease, renew, retry);
    if (problem) throw new Error(problem);
    this.identity = opts.identity;
    this.#name = opts.name;
    this.#namespace = opts.namespace;
    this.#leaseSeconds = lease;
    this.#renewDeadlineMs = renew * 1000;
    this.#retryMs = retry * 1000;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? Math.max(this.#renewDeadlineMs / 2, 1000);
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log?.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    const kc = opts.kubeConfig ?? defaultKubeConfig();
    this.#api = kc.makeApiClient(CoordinationV1Api);
  }

  isLeader(): boolean {
    return this.#leading && this.#clock.now() < this.#deadline;
  }

  onChange(cb: (leading: boolean) => void): void {
    this.#listeners.push(cb);
  }

  /** The holderIdentity last seen on the Lease (this replica's own when leading); undefined when none. */
  holder(): string | undefined {
    return this.#observed?.record.holderIdentity || undefined;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#schedule(0);
  }

  stop(): Promise<void> {
    return (this.#stopping ??= this.#stop());
  }

  async #stop(): Promise<void> {
    if (this.#stopped) return; // abandoned: a crashed process releases nothing
    this.#halt();
    // a write in flight lands first: the release must carry the version it produced
    await this.#attempt;
    this.#setLeading(false);
    if (this.#observed?.record.holderIdentity === this.identity) await this.#release();
  }

  /**
   * Stop as a crashed process would: no further request, the Lease left as it is (others take
   * over once it expires), no onChange. For tests of the takeover.
   */
  abandon(): void {
    this.#halt();
    this.#leading = false;
  }

  #halt(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#attempt = this.#tick().finally(() => (this.#attempt = undefined));
    }, ms);
  }

  async #tick(): Promise<void> {
    if (this.#leading && this.#clock.now() >= this.#deadline) this.#stepDown("the renew deadline passed");
    const started = this.#clock.now();
    const ok = await this.#tryAcquireOrRenew(started);
    if (this.#stopped) return;
    if (ok) {
      // the next renew cycle starts a retryPeriod from now and lasts renewDeadline (client-go's renew loop)
      this.#deadline = started + this.#retryMs + this.#renewDeadlineMs;
      if (!this.#leading) this.#log?.info("became leader");
      this.#setLeading(true);
    } else if (this.#leading && this.#clock.now() >= this.#deadline) this.#stepDown("the renew deadline passed");
    this.#schedule(this.#retryMs);
  }

  #stepDown(why: string): void {
    this.#log?.warn({ why }, "stopped leading");
    this.#setLeading(false);
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    for (const cb of this.#listeners) {
      try {
        cb(leading);
      } catch (err) {
        this.#log?.error({ err }, "a leadership listener threw");
      }
    }
  }

  /** The time one call may take: never past the renew deadline while leading. */
  #signal(): AbortSignal {
    const left = this.#leading ? this.#deadline - this.#clock.now() : Infinity;
    return AbortSignal.timeout(Math.max(1, Math.min(this.#requestTimeoutMs, left)));
  }

  #leaseValid(now: number): boolean {
    const o = this.#observed;
    return !!o && o.at + o.record.leaseDurationSeconds * 1000 > now;
  }

  #observe(lease: V1Lease, at: number): void {
    const record = recordOf(lease);
    const raw = JSON.stringify(record);
    if (this.#observed?.raw !== raw) this.#observed = { record, raw, at };
    this.#lease = lease;
  }

  /** client-go's tryAcquireOrRenew: true when this replica holds the lease, freshly renewed. */
  async #tryAcquireOrRenew(now: number): Promise<boolean> {
    const mine: LeaseRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#leaseSeconds,
      acquireTime: undefined,
      renewTime: undefined,
      leaseTransitions: 0,
    };
    const observed = this.#observed?.record;
    // 1. the fast path: renew the version this replica wrote last
    if (observed?.holderIdentity === this.identity && this.#lease && this.#leaseValid(now)) {
      try {
        await this.#write(
          { ...mine, acquireTime: observed.acquireTime, leaseTransitions: observed.leaseTransitions },
          now,
        );
        return true;
      } catch (err) {
        if (this.#stopped) return false;
        this.#log?.debug({ err: reason(err) }, "could not renew the version last written; reading the lease");
      }
    }
    // 2. read the Lease, or create it
    let current: V1Lease;
    try {
      current = await this.#api.readNamespacedLease(
        { name: this.#name, namespace: this.#namespace },
        withSignal(this.#signal()),
      );
    } catch (err) {
      if (statusCode(err) !== 404) {
        this.#log?.warn({ err: reason(err) }, "could not read the lease");
        return false;
      }
      try {
        const created = await this.#api.createNamespacedLease(
          { namespace: this.#namespace, body: this.#body(mine, now), fieldManager: "podindex" },
          withSignal(this.#signal()),
        );
        this.#observe(created, now);
        return true;
      } catch (createErr) {
        // 409 AlreadyExists: another replica created it first; the next attempt reads it
        this.#log?.info({ err: reason(createErr) }, "could not create the lease");
        return false;
      }
    }
    // 3. who holds it, and since when (by this clock)
    this.#observe(current, this.#clock.now());
    const seen = this.#observed!.record;
    if (this.#leading && seen.holderIdentity !== this.identity) {
      this.#stepDown(`the lease is held by ${seen.holderIdentity || "nobody"}`);
    }
    if (seen.holderIdentity && seen.holderIdentity !== this.identity && this.#leaseValid(now)) return false;
    // 4. take it over (released or expired), or renew it on the version just read
    const next =
      seen.holderIdentity === this.identity
        ? { ...mine, acquireTime: seen.acquireTime, leaseTransitions: seen.leaseTransitions }
        : { ...mine, leaseTransitions: seen.leaseTransitions + 1 };
    try {
      await this.#write(next, now);
      return true;
    } catch (err) {
      this.#log?.info({ err: reason(err) }, "could not update the lease");
      return false;
    }
  }

  /** The Lease body for `record` (an unset acquireTime becomes `now`), with `resourceVersion` for a PUT. */
  #body(record: LeaseRecord, now: number, resourceVersion?: string): V1Lease {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.#name, namespace: this.#namespace, resourceVersion },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        // a time read back is a string; V1MicroTime writes a Date with the 6 digits the apiserver wants
        acquireTime: (record.acquireTime ?? microTime(now)) as V1MicroTime,
        renewTime: microTime(now),
        leaseTransitions: record.leaseTransitions,
      },
    };
  }

  /** PUT `record` with the resourceVersion last seen: a 409 when anyone wrote since. */
  async #write(record: LeaseRecord, now: number, signal = this.#signal()): Promise<void> {
    const written = await this.#api.replaceNamespacedLease(
      {
        name: this.#name,
        namespace: this.#namespace,
        body: this.#body(record, now, this.#lease?.metadata?.resourceVersion),
        fieldManager: "podindex",
      },
      withSignal(signal),
    );
    this.#observe(written, now);
  }

  /** Give the lease up: no holder, a 1 s duration (client-go's release). A failure only costs the takeover time. */
  async #release(): Promise<void> {
    const now = this.#clock.now();
    const record = this.#observed!.record;
    try {
      await this.#write(
        { holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: record.leaseTransitions },
        now,
        AbortSignal.timeout(this.#renewDeadlineMs),
      );
      this.#log?.info("released the lease");
    } catch (err) {
      this.#log?.warn({ err: reason(err) }, "could not release the lease; another replica takes over once it expires");
    }
  }
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
