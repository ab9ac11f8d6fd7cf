import { createHash } from "node:crypto";
import pg from "pg";
import type { Logger } from "pino";
import type { ServiceRef } from "../endpoints/endpoint-cache";
import { parseTableName } from "../spec/table-name";

/**
 * The PostgreSQL mirror of a PodIndex's Services: one row per ready endpoint (pod) per Service,
 * in the table layout of the `observer` reference tool.
 *
 * Level-triggered: the app calls markDirty(service) on any change and the mirror reads the
 * desired rows (desired()) when it writes, so coalesced changes are written once, as they are
 * then. Each write is one transaction: upsert the services' rows (last_seen = now(), first_seen
 * kept) and delete their rows that are gone. A full resync (at start, periodically, and first
 * after any failure) does the same for every Service and deletes rows of Services that vanished,
 * so an outage loses nothing and leaves nothing stale. Failures retry with exponential backoff.
 * Every statement runs under statement_timeout and lock_timeout, so a lock held elsewhere fails
 * a write (and is retried) instead of hanging the mirror, and stop() returns within stopTimeoutMs.
 */

/** The connection settings could not be read (a missing or incomplete Secret). */
class SettingsError extends Error {}

/** The table cannot be written as it is (missing, or lacking a column or the key); the reason names which. */
class TableError extends Error {
  constructor(
    readonly reason: "TableMissing" | "TableMismatch",
    message: string,
  ) {
    super(message);
  }
}

/** The columns podindex writes (observer's table), by name, as format_type() spells their types. */
const COLUMNS: Record<string, string> = {
  cluster: "text",
  namespace: "text",
  service: "text",
  pod_uid: "text",
  pod_name: "text",
  pod_ip: "inet",
  ready: "boolean",
  first_seen: "timestamp with time zone",
  last_seen: "timestamp with time zone",
};
const KEY = ["cluster", "namespace", "service", "pod_uid"];

/**
 * `<table>_<suffix>` when that fits PostgreSQL's 63-byte identifiers (observer's names); else the
 * table's name shortened, with a hash of the whole name, so that the name stays unique: PostgreSQL
 * would truncate a longer one, and for a 63-character table to the table's own name.
 */
export function indexName(table: string, suffix: string): string {
  const plain = `${table}_${suffix}`;
  if (plain.length <= 63) return plain;
  const hash = createHash("sha256").update(table).digest("hex").slice(0, 8);
  return `${table.slice(0, 63 - suffix.length - hash.length - 2)}_${hash}_${suffix}`;
}

export interface MirrorRow {
  namespace: string;
  service: string;
  podUid: string;
  podName: string;
  podIp: string;
  ready: boolean;
}

export interface SinkHealth {
  ready: boolean;
  /**
   * Connecting, Synced, DatabaseUnavailable, ConnectionSettingsUnavailable, PermissionDenied,
   * TableMissing, TableMismatch (createSchema false, or a table that exists unlike observer's), TableInUse
   */
  reason: string;
  message: string;
  lastSyncTime?: string;
}

export interface PostgresMirrorOptions {
  /** read at every (re)connection, so a changed Secret is picked up after a failure */
  connection: () => Promise<pg.PoolConfig>;
  table: string;
  cluster: string;
  /**
   * create the schema, the table and its indexes when missing (default true; needs CREATE rights).
   * When false the table must exist: it is checked (columns and key) and written with DML only.
   */
  createSchema?: boolean;
  /**
   * another PodIndex already mirrors into this (table, cluster): this mirror never connects and
   * reports TableInUse (its full resyncs would delete the other's rows)
   */
  claimedBy?: string;
  /** the rows a Service should have now ([] when it has none or is gone) */
  desired: (service: ServiceRef) => MirrorRow[];
  /** every Service that should have rows now */
  desiredServices: () => ServiceRef[];
  log: Logger;
  coalesceMs?: number;
  resyncMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** PostgreSQL's statement_timeout and lock_timeout for every statement, and the connection timeout */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** stop() waits this long for a write in flight, then closes its connection */
  stopTimeoutMs?: number;
  onHealth?: (health: SinkHealth) => void;
  /** after each write attempt (for metrics) */
  onWrite?: (ok: boolean) => void;
}

const quote = (id: string) => `"${id}"`;
const key = (s: ServiceRef) => `${s.namespace}/${s.name}`;

export class PostgresMirror {
  readonly #o: Required<Omit<PostgresMirrorOptions, "onHealth" | "onWrite" | "claimedBy">> &
    Pick<PostgresMirrorOptions, "onHealth" | "onWrite" | "claimedBy">;
  readonly #qualified: string;
  readonly #table: string;
  #pool: pg.Pool | undefined;
  /** the settings #pool was made with */
  #config: pg.PoolConfig = {};
  /** the server process of the write in flight (stop() terminates it when the write overruns) */
  #backend: number | undefined;
  readonly #pids = new WeakMap<pg.PoolClient, number>();
  #tableReady = false;
  #dirty = new Map<string, ServiceRef>();
  #full = true;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #backoff: number;
  #stopped = false;
  #health: SinkHealth = { ready: false, reason: "Connecting", message: "not connected yet" };
  #idle: (() => void)[] = [];

  constructor(opts: PostgresMirrorOptions) {
    const { schema, table } = parseTableName(opts.table);
    if (!opts.cluster) throw new Error("a cluster name is required");
    this.#qualified = `${quote(schema)}.${quote(table)}`;
    this.#table = table;
    this.#o = {
      createSchema: true,
      coalesceMs: 200,
      resyncMs: 300_000,
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      statementTimeoutMs: 10_000,
      lockTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      stopTimeoutMs: 5_000,
      ...opts,
    };
    this.#backoff = this.#o.minBackoffMs;
    if (opts.claimedBy) {
      this.#health = {
        ready: false,
        reason: "TableInUse",
        message: `${schema}.${table} with cluster ${JSON.stringify(opts.cluster)} is mirrored by PodIndex ${opts.claimedBy}: give this PodIndex its own table or cluster`,
      };
    }
  }

  /** Begin: the first write is a full resync. A stopped mirror does not start again. */
  start(): void {
    if (this.#stopped || this.#resync) return;
    if (this.#o.claimedBy) {
      this.#o.onHealth?.(this.#health);
      return;
    }
    this.#resync = setInterval(() => {
      this.#full = true;
      this.#schedule(0);
    }, this.#o.resyncMs).unref();
    this.#schedule(0);
  }

  markDirty(service: ServiceRef): void {
    this.#dirty.set(key(service), service);
    this.#schedule(this.#o.coalesceMs);
  }

  health(): SinkHealth {
    return this.#health;
  }

  /** Resolves once nothing is pending and the last write succeeded. */
  idle(): Promise<void> {
    if (this.#clean()) return Promise.resolve();
    return new Promise(resolve => this.#idle.push(resolve));
  }

  /** Stop writing; resolves once the write in flight ended, or soon after stopTimeoutMs by terminating its query. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
    const running = this.#running;
    if (running && !(await within(running, this.#o.stopTimeoutMs))) {
      this.#o.log.warn({ table: this.#qualified }, "PostgreSQL mirror write still running at stop; terminating it");
      // closing the socket is not enough: a backend waiting on a lock notices only once it gets the lock
      if (this.#backend !== undefined) await within(this.#terminate(this.#backend), this.#o.stopTimeoutMs);
      await within(running, this.#o.stopTimeoutMs);
    }
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await within(pool.end(), this.#o.stopTimeoutMs);
  }

  #clean(): boolean {
    return this.#health.ready && !this.#full && this.#dirty.size === 0 && !this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#running || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#flush().finally(() => {
        this.#running = undefined;
        if (this.#full || this.#dirty.size > 0) this.#schedule(this.#health.ready ? this.#o.coalesceMs : this.#backoff);
        if (this.#clean()) this.#idle.splice(0).forEach(resolve => resolve());
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #flush(): Promise<void> {
    const full = this.#full;
    const batch = [...this.#dirty.values()];
    this.#full = false;
    this.#dirty.clear();
    try {
      const client = await (await this.#connect()).connect();
      try {
        let pid = this.#pids.get(client);
        if (pid === undefined) {
          pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
          this.#pids.set(client, pid);
        }
        this.#backend = pid;
        if (!this.#tableReady) await this.#prepareTable(client);
        if (full) await this.#write(client, this.#o.desiredServices(), true);
        else await this.#write(client, batch, false);
      } finally {
        this.#backend = undefined;
        client.release();
      }
      this.#backoff = this.#o.minBackoffMs;
      this.#o.onWrite?.(true);
      this.#setHealth({
        ready: true,
        reason: "Synced",
        message: `mirroring into ${this.#qualified} as cluster ${JSON.stringify(this.#o.cluster)}`,
        lastSyncTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      });
    } catch (err) {
      // nothing is lost: the next successful write is a full resync
      this.#full = true;
      const message = err instanceof Error ? err.message : String(err);
      this.#o.log.warn(
        { table: this.#qualified, err: message, retryInMs: this.#backoff },
        "PostgreSQL mirror write failed",
      );
      this.#o.onWrite?.(false);
      this.#setHealth({ ready: false, ...failure(err, message, this.#o.createSchema) });
      this.#backoff = Math.min(this.#backoff * 2, this.#o.maxBackoffMs);
      const pool = this.#pool;
      this.#pool = undefined;
      this.#tableReady = false;
      await pool?.end().catch(() => undefined);
    }
  }

  async #connect(): Promise<pg.Pool> {
    if (this.#pool) return this.#pool;
    const config = await this.#o.connection().catch(err => {
      throw new SettingsError(err instanceof Error ? err.message : String(err));
    });
    const pool = new pg.Pool({
      max: 1,
      connectionTimeoutMillis: this.#o.connectTimeoutMs,
      statement_timeout: this.#o.statementTimeoutMs,
      lock_timeout: this.#o.lockTimeoutMs,
      // a server that stops answering (no error, no close) fails the query too
      query_timeout: this.#o.statementTimeoutMs + this.#o.connectTimeoutMs,
      ...config,
    });
    // an idle client's error (the server went away) must not crash the process; the next write fails and retries
    pool.on("error", err => this.#o.log.warn({ err: err.message }, "PostgreSQL connection lost"));
    // nor a checked-out one's (the server ended it mid-write): that write fails and retries
    pool.on("connect", client => client.on("error", () => undefined));
    this.#pool = pool;
    this.#config = config;
    return pool;
  }

  /** End a server process of this mirror's (a role may terminate its own), over a connection of its own. */
  async #terminate(pid: number): Promise<void> {
    const client = new pg.Client({ connectionTimeoutMillis: this.#o.connectTimeoutMs, ...this.#config });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT pg_terminate_backend($1)", [pid]);
    } catch (err) {
      this.#o.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        "could not end a stuck PostgreSQL query",
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Create what is missing (createSchema), then check that the table has observer's columns and key. */
  async #prepareTable(client: pg.PoolClient): Promise<void> {
    if (this.#o.createSchema) {
      const [schema] = this.#qualified.split(".");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.#qualified} (
        cluster    text        NOT NULL,
        namespace  text        NOT NULL,
        service    text        NOT NULL,
        pod_uid    text        NOT NULL,
        pod_name   text,
        pod_ip     inet        NOT NULL,
        ready      boolean     NOT NULL DEFAULT true,
        first_seen timestamptz NOT NULL DEFAULT now(),
        last_seen  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (cluster, namespace, service, pod_uid))`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS ${quote(indexName(this.#table, "ns_svc"))} ON ${this.#qualified} (namespace, service)`,
      );
      await client.query(
        `CREATE INDEX IF NOT EXISTS ${quote(indexName(this.#table, "pod_ip"))} ON ${this.#qualified} (pod_ip)`,
      );
    }
    await this.#checkTable(client);
    this.#tableReady = true;
  }

  async #checkTable(client: pg.PoolClient): Promise<void> {
    const name = this.#qualified.replaceAll('"', "");
    const { rows } = await client.query<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
       WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
      [this.#qualified],
    );
    if (rows.length === 0) {
      throw new TableError(
        "TableMissing",
        `table ${name} does not exist (or the role lacks USAGE on its schema); with createSchema: false it must be created beforehand`,
      );
    }
    const found = new Map(rows.map(r => [r.name, r.type]));
    const wrong = Object.entries(COLUMNS)
      .filter(([col, type]) => found.get(col) !== type)
      .map(([col, type]) => `${col} ${type}${found.has(col) ? ` (is ${found.get(col)})` : " (missing)"}`);
    const keyed = await client.query(
      `SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL
       AND (SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute
            WHERE attrelid = i.indrelid AND attnum = ANY(i.indkey)) = $2::text[]
       AND cardinality(i.indkey) = $3`,
      [this.#qualified, [...KEY].sort(), KEY.length],
    );
    if (keyed.rowCount === 0) wrong.push(`a primary key or unique index on (${KEY.join(", ")})`);
    if (wrong.length) {
      throw new TableError("TableMismatch", `table ${name} is not the mirror's layout: it needs ${wrong.join(", ")}`);
    }
  }

  /** One transaction: upsert the services' rows, then delete what is gone (of these services, or of all when full). */
  async #write(client: pg.PoolClient, services: ServiceRef[], full: boolean): Promise<void> {
    const rows = new Map<string, MirrorRow>();
    for (const service of services) {
      // one row per pod per service (a dual-stack pod appears in two slices: its first address wins)
      for (const row of this.#o.desired(service)) {
        const k = `${row.namespace}/${row.service}/${row.podUid}`;
        if (!rows.has(k)) rows.set(k, row);
      }
    }
    const r = [...rows.values()];
    const cols = {
      ns: r.map(x => x.namespace),
      svc: r.map(x => x.service),
      uid: r.map(x => x.podUid),
      name: r.map(x => x.podName),
      ip: r.map(x => x.podIp),
      ready: r.map(x => x.ready),
    };
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO ${this.#qualified} AS t (cluster, namespace, service, pod_uid, pod_name, pod_ip, ready)
         SELECT $1, ns, svc, uid, name, ip::inet, ready
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[]) AS r(ns, svc, uid, name, ip, ready)
         ON CONFLICT (cluster, namespace, service, pod_uid) DO UPDATE
         SET pod_name = EXCLUDED.pod_name, pod_ip = EXCLUDED.pod_ip, ready = EXCLUDED.ready, last_seen = now()`,
        [this.#o.cluster, cols.ns, cols.svc, cols.uid, cols.name, cols.ip, cols.ready],
      );
      const keep = `NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[], $4::text[]) AS k(ns, svc, uid)
                    WHERE k.ns = d.namespace AND k.svc = d.service AND k.uid = d.pod_uid)`;
      if (full) {
        await client.query(`DELETE FROM ${this.#qualified} d WHERE d.cluster = $1 AND ${keep}`, [
          this.#o.cluster,
          cols.ns,
          cols.svc,
          cols.uid,
        ]);
      } else {
        await client.query(
          `DELETE FROM ${this.#qualified} d USING unnest($5::text[], $6::text[]) AS s(ns, svc)
           WHERE d.cluster = $1 AND d.namespace = s.ns AND d.service = s.svc AND ${keep}`,
          [this.#o.cluster, cols.ns, cols.svc, cols.uid, services.map(s => s.namespace), services.map(s => s.name)],
        );
      }
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  }

  /**
   * A change of state or reason is a health change (an Event, a status write). Within one, the
   * message stays that of the change: each attempt's own error text (a refused connection, then
   * "the database system is starting up") is logged, not reported again.
   */
  #setHealth(h: SinkHealth): void {
    const changed = h.ready !== this.#health.ready || h.reason !== this.#health.reason;
    this.#health = changed ? h : { ...this.#health, lastSyncTime: h.lastSyncTime };
    // a stopped mirror's last write (ended by stop()) is no news about the PodIndex
    if (changed && !this.#stopped) this.#o.onHealth?.(h);
  }
}

/** Why a write failed, as a health reason; permission and layout problems say how to fix them. */
function failure(err: unknown, message: string, createSchema: boolean): Pick<SinkHealth, "reason" | "message"> {
  if (err instanceof SettingsError) return { reason: "ConnectionSettingsUnavailable", message };
  if (err instanceof TableError) return { reason: err.reason, message };
  if (err instanceof pg.DatabaseError && err.code === "42501") {
    const fix = createSchema
      ? "createSchema: true needs CREATE on the database and the schema (or owning them); with an existing table set createSchema: false"
      : "createSchema: false needs USAGE on the schema and SELECT, INSERT, UPDATE, DELETE on the table";
    return { reason: "PermissionDenied", message: `${message} (${fix})` };
  }
  return { reason: "DatabaseUnavailable", message };
}

/** Whether p settled within ms (it is not cancelled either way; its failure counts as settled). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>(resolve => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
