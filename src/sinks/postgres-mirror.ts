import pg from "pg";
import type { Logger } from "pino";
import type { ServiceRef } from "../endpoints/endpoint-cache";

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
 */

export class TableNameError extends Error {}

/** The connection settings could not be read (a missing or incomplete Secret). */
class SettingsError extends Error {}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** "table" (schema public) or "schema.table", each a plain lower-case SQL identifier; else TableNameError. */
export function parseTableName(input: string): { schema: string; table: string } {
  const parts = input.split(".");
  if (parts.length > 2 || !parts.every(p => IDENT.test(p))) {
    throw new TableNameError(
      `${JSON.stringify(input)} is not a table name: use "table" or "schema.table", each of lower-case letters, digits and '_' (starting with a letter or '_', at most 63)`,
    );
  }
  return parts.length === 2 ? { schema: parts[0], table: parts[1] } : { schema: "public", table: parts[0] };
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
  /** Connecting, Synced, DatabaseUnavailable, ConnectionSettingsUnavailable */
  reason: string;
  message: string;
  lastSyncTime?: string;
}

export interface PostgresMirrorOptions {
  /** read at every (re)connection, so a changed Secret is picked up after a failure */
  connection: () => Promise<pg.PoolConfig>;
  table: string;
  cluster: string;
  /** the rows a Service should have now ([] when it has none or is gone) */
  desired: (service: ServiceRef) => MirrorRow[];
  /** every Service that should have rows now */
  desiredServices: () => ServiceRef[];
  log: Logger;
  coalesceMs?: number;
  resyncMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onHealth?: (health: SinkHealth) => void;
  /** after each write attempt (for metrics) */
  onWrite?: (ok: boolean) => void;
}

const quote = (id: string) => `"${id}"`;
const key = (s: ServiceRef) => `${s.namespace}/${s.name}`;

export class PostgresMirror {
  readonly #o: Required<Omit<PostgresMirrorOptions, "onHealth" | "onWrite">> &
    Pick<PostgresMirrorOptions, "onHealth" | "onWrite">;
  readonly #qualified: string;
  readonly #indexPrefix: string;
  #pool: pg.Pool | undefined;
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
    this.#indexPrefix = table;
    this.#o = { coalesceMs: 200, resyncMs: 300_000, minBackoffMs: 500, maxBackoffMs: 30_000, ...opts };
    this.#backoff = this.#o.minBackoffMs;
  }

  /** Begin: the first write is a full resync. A stopped mirror does not start again. */
  start(): void {
    if (this.#stopped || this.#resync) return;
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

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
    await this.#running;
    await this.#pool?.end().catch(() => undefined);
    this.#pool = undefined;
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
      const pool = await this.#connect();
      if (!this.#tableReady) await this.#createTable(pool);
      if (full) await this.#write(pool, this.#o.desiredServices(), true);
      else await this.#write(pool, batch, false);
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
      const reason = err instanceof SettingsError ? "ConnectionSettingsUnavailable" : "DatabaseUnavailable";
      this.#setHealth({ ready: false, reason, message });
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
    const pool = new pg.Pool({ max: 2, connectionTimeoutMillis: 5000, ...config });
    // an idle client's error (the server went away) must not crash the process; the next write fails and retries
    pool.on("error", err => this.#o.log.warn({ err: err.message }, "PostgreSQL connection lost"));
    this.#pool = pool;
    return pool;
  }

  async #createTable(pool: pg.Pool): Promise<void> {
    const [schema] = this.#qualified.split(".");
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${this.#qualified} (
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
    await pool.query(
      `CREATE INDEX IF NOT EXISTS ${quote(`${this.#indexPrefix}_ns_svc`)} ON ${this.#qualified} (namespace, service)`,
    );
    await pool.query(
      `CREATE INDEX IF NOT EXISTS ${quote(`${this.#indexPrefix}_pod_ip`)} ON ${this.#qualified} (pod_ip)`,
    );
    this.#tableReady = true;
  }

  /** One transaction: upsert the services' rows, then delete what is gone (of these services, or of all when full). */
  async #write(pool: pg.Pool, services: ServiceRef[], full: boolean): Promise<void> {
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
    const client = await pool.connect();
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
    } finally {
      client.release();
    }
  }

  #setHealth(h: SinkHealth): void {
    const changed =
      h.ready !== this.#health.ready || h.reason !== this.#health.reason || h.message !== this.#health.message;
    this.#health = h;
    if (changed) this.#o.onHealth?.(h);
  }
}
