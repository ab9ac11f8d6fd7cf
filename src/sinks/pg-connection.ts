import type pg from "pg";

/** The libpq variables a connection Secret holds (as the observer reference tool reads them). */
const REQUIRED = ["PGHOST", "PGUSER", "PGPASSWORD", "PGDATABASE"] as const;
const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/**
 * pg's connection settings from a Secret's decoded data (PGHOST, PGPORT default 5432, PGUSER,
 * PGPASSWORD, PGDATABASE, PGSSLMODE default require). node-postgres has no opportunistic TLS, so
 * allow and prefer connect without it; require encrypts without verifying the server's
 * certificate; verify-ca and verify-full verify it against the system's CAs.
 * Throws an Error naming what is missing or malformed.
 */
export function poolConfigFromSecret(data: Readonly<Record<string, string>>, secret: string): pg.PoolConfig {
  const missing = REQUIRED.filter(k => !data[k]);
  if (missing.length) throw new Error(`Secret ${secret} lacks ${missing.join(", ")}`);
  const port = data.PGPORT ? Number(data.PGPORT) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`Secret ${secret}: PGPORT ${JSON.stringify(data.PGPORT)} is not a port`);
  }
  const sslmode = data.PGSSLMODE || "require";
  if (!SSL_MODES.includes(sslmode)) {
    throw new Error(`Secret ${secret}: PGSSLMODE ${JSON.stringify(sslmode)} is not one of ${SSL_MODES.join(", ")}`);
  }
  const ssl =
    sslmode === "require"
      ? { rejectUnauthorized: false }
      : sslmode.startsWith("verify")
        ? { rejectUnauthorized: true }
        : false;
  return { host: data.PGHOST, port, user: data.PGUSER, password: data.PGPASSWORD, database: data.PGDATABASE, ssl };
}
