import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { TrustedProxies } from "./forward-auth/client-ip";
import { leaseTimingsProblem } from "./leader/lease-elector";
import { isDnsLabel, isDnsSubdomain } from "./names";

/** Environment → validated, typed configuration. */
export interface Config {
  /** HTTP port of the lookup server (PORT, default 8080; 0 picks a free port) */
  port: number;
  /** listen address (HOST, default 0.0.0.0) */
  host: string;
  /**
   * seconds between full re-lists of PodIndex objects, a safety net for missed events and what proves
   * the PodIndexes current on a quiet cluster (PODINDEX_RESYNC_SECONDS, default 30)
   */
  resyncSeconds: number;
  /** pino level (LOG_LEVEL, default info), the variable Pepr reads too */
  logLevel: string;
  /** at most one status write per PodIndex per this many ms (PODINDEX_STATUS_INTERVAL_MS, default 2000) */
  statusIntervalMs: number;
  /** proxies whose X-Forwarded-For forward-auth believes (PODINDEX_TRUSTED_PROXIES, CIDRs; default none) */
  trustedProxies: TrustedProxies;
  /**
   * the Service GET /endpoints answers for when its query names none: kubernetes-pod-discovery's
   * KUBERNETES_POD_DISCOVERY_NAMESPACE and KUBERNETES_POD_DISCOVERY_SERVICE_NAME, so its clients switch unchanged
   */
  defaultService: { namespace?: string; name?: string };
  /**
   * on SIGTERM, how long /readyz answers 503 while lookups still answer, before the server closes
   * (PODINDEX_DRAIN_SECONDS, default 10): the time endpoints, kube-proxy and proxies need to stop sending
   */
  drainSeconds: number;
  /**
   * how long a kind's cache may go without the apiserver proving it current (an event, a bookmark,
   * a completed list) before IP and UID lookups and forward-auth refuse to answer (503 Stale) and
   * /readyz fails (PODINDEX_MAX_STALENESS: seconds, or "90s", "5m", "1h30m"; default 5m)
   */
  maxStalenessSeconds: number;
  /**
   * a pod or EndpointSlice watch that delivers nothing, not even a bookmark, for this long is
   * taken for dead and reconnected (PODINDEX_WATCH_IDLE_SECONDS, default 90)
   */
  watchIdleSeconds: number;
  /**
   * where pods and EndpointSlices come from (PODINDEX_SOURCE): "feed" (default), podindex's own
   * paged list+watch; "pepr", Pepr `When(a.Pod)` / `When(a.EndpointSlice)` bindings (docs/sources.md)
   */
  podSource: PodSource;
  /** the leader election: only the replica holding this Lease writes status and Events and runs the mirrors */
  lease: LeaseConfig;
}

export class ConfigError extends Error {}

export const POD_SOURCES = ["feed", "pepr"] as const;
export type PodSource = (typeof POD_SOURCES)[number];

/**
 * PODINDEX_SOURCE alone: capabilities/podindex.ts reads it when it is imported, to register the
 * Pod and EndpointSlice bindings only when they are the source.
 */
export function podSource(env: NodeJS.ProcessEnv = process.env): PodSource {
  const raw = env.PODINDEX_SOURCE?.trim() ?? "";
  if (raw === "") return "feed";
  const value = POD_SOURCES.find(s => s === raw.toLowerCase());
  if (!value) {
    throw new ConfigError(
      `PODINDEX_SOURCE must be ${POD_SOURCES.map(s => `"${s}"`).join(" or ")} (see docs/sources.md), got "${env.PODINDEX_SOURCE}"`,
    );
  }
  return value;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1 };

/**
 * A duration in whole seconds: plain seconds ("300") or Go-style units ("90s", "5m", "1h30m").
 * Hand-written: no dependency parses durations, and these ten lines accept exactly this grammar.
 */
function duration(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const trimmed = env[name]?.trim().toLowerCase();
  if (trimmed === undefined || trimmed === "") return fallback;
  const raw = /^\d+$/.test(trimmed) ? `${trimmed}s` : trimmed;
  const parts = raw.match(/\d+[hms]/g);
  if (!parts || parts.join("") !== raw || new Set(parts.map(p => p.slice(-1))).size !== parts.length) {
    throw new ConfigError(`${name} must be a duration in seconds or like "90s", "5m", "1h30m", got "${env[name]}"`);
  }
  const value = parts.reduce((sum, p) => sum + Number(p.slice(0, -1)) * UNIT_SECONDS[p.slice(-1)], 0);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} s and ${max} s, got ${value} s`);
  }
  return value;
}

/** PODINDEX_MAX_STALENESS's default (why 5 minutes: README, "Staleness") */
export const DEFAULT_MAX_STALENESS_SECONDS = 300;

/** kube-apiserver sends a BOOKMARK on a quiet watch about once a minute (upstream's bookmark cadence). */
export const BOOKMARK_CADENCE_SECONDS = 60;

function trustedProxies(list: string): TrustedProxies {
  try {
    return TrustedProxies.parse(list);
  } catch (err) {
    throw new ConfigError(`PODINDEX_TRUSTED_PROXIES: ${(err as Error).message}`);
  }
}

/** Where the elector's Lease lives and who this replica is. */
export interface LeaseConfig {
  /** the Lease's name (PODINDEX_LEASE_NAME, default "podindex-leader") */
  name: string;
  /**
   * its namespace (PODINDEX_LEASE_NAMESPACE; default the pod's own: the service account's
   * namespace file, else POD_NAMESPACE, else "pepr-system")
   */
  namespace: string;
  /** this replica's holderIdentity: the pod name (POD_NAME, else the hostname), "_" and a random UUID */
  identity: string;
  /** how long the others wait before taking an unrenewed Lease over (PODINDEX_LEASE_DURATION_SECONDS, default 15) */
  leaseDurationSeconds: number;
  /** how long the leader keeps trying to renew before it steps down (PODINDEX_LEASE_RENEW_DEADLINE_SECONDS, default 10) */
  renewDeadlineSeconds: number;
  /** the wait between attempts to acquire or renew (PODINDEX_LEASE_RETRY_PERIOD_SECONDS, default 2) */
  retryPeriodSeconds: number;
}

/** The namespace file every pod with a service account token has. */
export const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function podNamespace(env: NodeJS.ProcessEnv, readNamespace: () => string | undefined): string {
  return readNamespace()?.trim() || env.POD_NAMESPACE?.trim() || "pepr-system";
}

const readServiceAccountNamespace = (): string | undefined => {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8");
  } catch {
    return undefined; // not in a pod (a developer's machine, the tests)
  }
};

/**
 * The Lease settings from the environment. The identity is unique per process even when two
 * share a pod name (a restarted container), as controller-runtime's `hostname_uuid` is.
 */
export function leaseConfig(
  env: NodeJS.ProcessEnv = process.env,
  readNamespace: () => string | undefined = readServiceAccountNamespace,
): LeaseConfig {
  const name = env.PODINDEX_LEASE_NAME?.trim() || "podindex-leader";
  if (!isDnsSubdomain(name)) {
    throw new ConfigError(`PODINDEX_LEASE_NAME must be a lowercase RFC 1123 subdomain (a Lease name), got "${name}"`);
  }
  const asked = env.PODINDEX_LEASE_NAMESPACE?.trim();
  const namespace = asked || podNamespace(env, readNamespace);
  if (!isDnsLabel(namespace)) {
    const source = asked ? "PODINDEX_LEASE_NAMESPACE" : "the pod's namespace (service account file or POD_NAMESPACE)";
    throw new ConfigError(`${source} must be a lowercase RFC 1123 label (a namespace), got "${namespace}"`);
  }
  const pod = env.POD_NAME?.trim() || hostname();
  const timings = {
    leaseDurationSeconds: integer(env, "PODINDEX_LEASE_DURATION_SECONDS", 15, 1, 3600),
    renewDeadlineSeconds: seconds(env, "PODINDEX_LEASE_RENEW_DEADLINE_SECONDS", 10),
    retryPeriodSeconds: seconds(env, "PODINDEX_LEASE_RETRY_PERIOD_SECONDS", 2),
  };
  const problem = leaseTimingsProblem(
    timings.leaseDurationSeconds,
    timings.renewDeadlineSeconds,
    timings.retryPeriodSeconds,
  );
  if (problem) throw new ConfigError(`PODINDEX_LEASE_*: ${problem}`);
  return { name, namespace, identity: `${pod}_${randomUUID()}`, ...timings };
}

/** A positive number of seconds, fractions allowed (the lease timings; tests shorten them). */
function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(value > 0))
    throw new ConfigError(`${name} must be a positive number of seconds, got "${raw}"`);
  return value;
}

export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  readNamespace: () => string | undefined = readServiceAccountNamespace,
): Config {
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  const resyncSeconds = integer(env, "PODINDEX_RESYNC_SECONDS", 30, 1, 86_400);
  const watchIdleSeconds = integer(env, "PODINDEX_WATCH_IDLE_SECONDS", 90, 10, 3600);
  const maxStalenessSeconds = duration(env, "PODINDEX_MAX_STALENESS", DEFAULT_MAX_STALENESS_SECONDS, 1, 86_400);
  // A healthy quiet cluster must never look stale: pods and EndpointSlices are proved current at
  // least by a bookmark a minute (or, if one is lost, by the reconnect after the idle timeout), and
  // PodIndexes by the re-list every PODINDEX_RESYNC_SECONDS.
  const quiet = Math.max(BOOKMARK_CADENCE_SECONDS + watchIdleSeconds, resyncSeconds);
  if (maxStalenessSeconds <= quiet) {
    throw new ConfigError(
      `PODINDEX_MAX_STALENESS (${maxStalenessSeconds} s) must exceed both PODINDEX_RESYNC_SECONDS (${resyncSeconds} s) ` +
        `and PODINDEX_WATCH_IDLE_SECONDS plus the apiserver's ${BOOKMARK_CADENCE_SECONDS} s bookmark cadence ` +
        `(${BOOKMARK_CADENCE_SECONDS + watchIdleSeconds} s), or a healthy quiet cluster would turn stale`,
    );
  }
  return {
    port: integer(env, "PORT", 8080, 0, 65535),
    host: env.HOST || "0.0.0.0",
    resyncSeconds,
    logLevel,
    statusIntervalMs: integer(env, "PODINDEX_STATUS_INTERVAL_MS", 2000, 100, 3_600_000),
    trustedProxies: trustedProxies(env.PODINDEX_TRUSTED_PROXIES ?? ""),
    defaultService: {
      namespace: env.KUBERNETES_POD_DISCOVERY_NAMESPACE || undefined,
      name: env.KUBERNETES_POD_DISCOVERY_SERVICE_NAME || undefined,
    },
    drainSeconds: integer(env, "PODINDEX_DRAIN_SECONDS", 10, 0, 300),
    maxStalenessSeconds,
    watchIdleSeconds,
    podSource: podSource(env),
    lease: leaseConfig(env, readNamespace),
  };
}
