import { TrustedProxies } from "./forward-auth/client-ip";

/** Environment → validated, typed configuration. */
export interface Config {
  /** HTTP port of the lookup server (PORT, default 8080; 0 picks a free port) */
  port: number;
  /** listen address (HOST, default 0.0.0.0) */
  host: string;
  /** seconds between full re-lists of PodIndex objects, a safety net for missed events (PODINDEX_RESYNC_SECONDS, default 300) */
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
}

export class ConfigError extends Error {}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function trustedProxies(list: string): TrustedProxies {
  try {
    return TrustedProxies.parse(list);
  } catch (err) {
    throw new ConfigError(`PODINDEX_TRUSTED_PROXIES: ${(err as Error).message}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  return {
    port: integer(env, "PORT", 8080, 0, 65535),
    host: env.HOST || "0.0.0.0",
    resyncSeconds: integer(env, "PODINDEX_RESYNC_SECONDS", 300, 1, 86_400),
    logLevel,
    statusIntervalMs: integer(env, "PODINDEX_STATUS_INTERVAL_MS", 2000, 100, 3_600_000),
    trustedProxies: trustedProxies(env.PODINDEX_TRUSTED_PROXIES ?? ""),
    defaultService: {
      namespace: env.KUBERNETES_POD_DISCOVERY_NAMESPACE || undefined,
      name: env.KUBERNETES_POD_DISCOVERY_SERVICE_NAME || undefined,
    },
    drainSeconds: integer(env, "PODINDEX_DRAIN_SECONDS", 10, 0, 300),
  };
}
