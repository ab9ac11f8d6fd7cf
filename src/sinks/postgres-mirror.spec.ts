import pg from "pg";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type RunningPostgres } from "../../test/support/embedded-pg";
import { eventually } from "../../test/support/module";
import type { ServiceRef } from "../endpoints/endpoint-cache";
import { TableNameError } from "../spec/table-name";
import {
  PostgresMirror,
  indexName,
  type MirrorRow,
  type PostgresMirrorOptions,
  type SinkHealth,
} from "./postgres-mirror";

const log = pino({ level: "silent" });

/** The desired state the app would compute from its EndpointSlices: service key → rows. */
class Desired {
  readonly rows = new Map<string, MirrorRow[]>();
  set(namespace: string, service: string, pods: [string, string][]): ServiceRef {
    const rows = pods.map(([name, ip]) => ({
      namespace,
      service,
      podUid: `uid-${name}`,
      podName: name,
      podIp: ip,
      ready: true,
    }));
    if (rows.length) this.rows.set(`${namespace}/${service}`, rows);
    else this.rows.delete(`${namespace}/${service}`);
    return { namespace, name: service };
  }
}

describe("PostgresMirror against a real PostgreSQL", () => {
  let db: RunningPostgres;
  const mirrors: PostgresMirror[] = [];

  beforeAll(async () => {
    db = await startPostgres();
  }, 60_000);
  afterAll(() => db?.close());
  afterEach(async () => {
    await Promise.all(mirrors.splice(0).map(m => m.stop()));
  });

  const mirror = (
    table: string,
    desired: Desired,
    cluster = "dev",
    onHealth?: (h: SinkHealth) => void,
    more: Partial<PostgresMirrorOptions> = {},
  ) => {
    const m = new PostgresMirror({
      connection: async () => db.config,
      table,
      cluster,
      desired: s => desired.rows.get(`${s.namespace}/${s.name}`) ?? [],
      desiredServices: () => [...desired.rows.keys()].map(k => ({ namespace: k.split("/")[0], name: k.split("/")[1] })),
      log,
      coalesceMs: 20,
      minBackoffMs: 100,
      maxBackoffMs: 400,
      onHealth,
      ...more,
    });
    mirrors.push(m);
    m.start();
    return m;
  };

  const rows = async (table: string, cluster = "dev") =>
    (
      await db.query(
        `SELECT namespace, service, pod_uid, pod_name, host(pod_ip) AS ip, ready FROM ${table} WHERE cluster = $1 ORDER BY 1, 2, 3`,
        [cluster],
      )
    ).rows.map(r => `${r.namespace}/${r.service} ${r.pod_name} ${r.ip}${r.ready ? "" : " (not ready)"}`);

  it("creates the schema-qualified table with its primary key and indexes", async () => {
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    await mirror("podindex.endpoints", desired).idle();
    const cols = await db.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = 'podindex' AND table_name = 'endpoints' ORDER BY ordinal_position`,
    );
    expect(cols.rows.map(c => `${c.column_name} ${c.data_type}`)).toEqual([
      "cluster text",
      "namespace text",
      "service text",
      "pod_uid text",
      "pod_name text",
      "pod_ip inet",
      "ready boolean",
      "first_seen timestamp with time zone",
      "last_seen timestamp with time zone",
    ]);
    const idx = await db.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'podindex' ORDER BY 1`);
    expect(idx.rows.map(i => i.indexname)).toEqual(["endpoints_ns_svc", "endpoints_pkey", "endpoints_pod_ip"]);
    expect(idx.rows[1].indexdef).toContain("(cluster, namespace, service, pod_uid)");
    expect(await rows("podindex.endpoints")).toEqual(["apps/web web-1 10.42.0.10"]);
  });

  it("upserts and prunes, keeping first_seen and advancing last_seen", async () => {
    const desired = new Desired();
    const web = desired.set("apps", "web", [
      ["web-1", "10.42.0.10"],
      ["web-2", "fd00:42::11"],
    ]);
    const m = mirror("public.server", desired);
    await m.idle();
    expect(await rows("public.server")).toEqual(["apps/web web-1 10.42.0.10", "apps/web web-2 fd00:42::11"]);
    const before = (await db.query(`SELECT first_seen, last_seen FROM public.server WHERE pod_uid = 'uid-web-1'`))
      .rows[0];

    desired.set("apps", "web", [
      ["web-1", "10.42.0.12"],
      ["web-3", "10.42.0.13"],
    ]);
    m.markDirty(web);
    await eventually(async () =>
      expect(await rows("public.server")).toEqual(["apps/web web-1 10.42.0.12", "apps/web web-3 10.42.0.13"]),
    );
    const after = (await db.query(`SELECT first_seen, last_seen FROM public.server WHERE pod_uid = 'uid-web-1'`))
      .rows[0];
    expect(after.first_seen).toEqual(before.first_seen);
    expect(after.last_seen.getTime()).toBeGreaterThan(before.last_seen.getTime());
    expect((await db.query(`SELECT pg_typeof(pod_ip)::text AS t FROM public.server LIMIT 1`)).rows[0].t).toBe("inet");
  });

  it("removes a Service that is gone, and never touches another cluster's rows", async () => {
    await db.query(
      `INSERT INTO public.server (cluster, namespace, service, pod_uid, pod_name, pod_ip) VALUES ('prod', 'apps', 'web', 'p1', 'web-9', '10.1.0.9')`,
    );
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    const api = desired.set("apps", "api", [["api-1", "10.42.0.20"]]);
    const m = mirror("public.server", desired);
    await m.idle();
    expect(await rows("public.server")).toEqual(["apps/api api-1 10.42.0.20", "apps/web web-1 10.42.0.10"]);
    desired.set("apps", "api", []);
    m.markDirty(api);
    await eventually(async () => expect(await rows("public.server")).toEqual(["apps/web web-1 10.42.0.10"]));
    expect(await rows("public.server", "prod")).toEqual(["apps/web web-9 10.1.0.9"]);
  });

  it("repairs drift at its periodic resync", async () => {
    const desired = new Desired();
    desired.set("drift", "web", [
      ["web-1", "10.60.0.1"],
      ["web-2", "10.60.0.2"],
    ]);
    const m = new PostgresMirror({
      connection: async () => db.config,
      table: "public.drift",
      cluster: "dev",
      desired: s => desired.rows.get(`${s.namespace}/${s.name}`) ?? [],
      desiredServices: () => [{ namespace: "drift", name: "web" }],
      log,
      resyncMs: 300,
    });
    mirrors.push(m);
    m.start();
    await m.idle();
    // someone edits the table behind podindex's back
    await db.query(`DELETE FROM public.drift WHERE pod_name = 'web-1'`);
    await db.query(
      `INSERT INTO public.drift (cluster, namespace, service, pod_uid, pod_name, pod_ip) VALUES ('dev', 'drift', 'old', 'x', 'ghost', '10.60.9.9')`,
    );
    await eventually(async () =>
      expect(await rows("public.drift")).toEqual(["drift/web web-1 10.60.0.1", "drift/web web-2 10.60.0.2"]),
    );
  });

  it("keeps changing through a database outage and converges exactly once it is back", async () => {
    const health: SinkHealth[] = [];
    const desired = new Desired();
    const svc = (i: number) => desired.set("churn", `svc-${i}`, [[`p-${i}`, `10.50.0.${i}`]]);
    for (let i = 1; i <= 5; i++) svc(i);
    const m = mirror("churn.endpoints", desired, "dev", h => health.push(h));
    await m.idle();
    expect(await rows("churn.endpoints")).toHaveLength(5);

    await db.down();
    // churn while the database is down: two services change, one goes, one is new
    desired.set("churn", "svc-1", [
      ["p-1", "10.50.1.1"],
      ["p-1b", "10.50.1.2"],
    ]);
    m.markDirty({ namespace: "churn", name: "svc-1" });
    m.markDirty(desired.set("churn", "svc-2", []));
    m.markDirty(svc(6));
    await eventually(() => expect(m.health()).toMatchObject({ ready: false, reason: "DatabaseUnavailable" }), 15_000);
    m.markDirty(desired.set("churn", "svc-3", [["p-3", "10.50.3.3"]]));

    await db.up();
    await eventually(() => expect(m.health()).toMatchObject({ ready: true, reason: "Synced" }), 20_000);
    await m.idle();
    expect(await rows("churn.endpoints")).toEqual([
      "churn/svc-1 p-1 10.50.1.1",
      "churn/svc-1 p-1b 10.50.1.2",
      "churn/svc-3 p-3 10.50.3.3",
      "churn/svc-4 p-4 10.50.0.4",
      "churn/svc-5 p-5 10.50.0.5",
      "churn/svc-6 p-6 10.50.0.6",
    ]);
    expect(health.map(h => h.reason)).toEqual(["Synced", "DatabaseUnavailable", "Synced"]);
  }, 60_000);

  it("reports unreadable connection settings as ConnectionSettingsUnavailable and recovers once they are readable", async () => {
    let secret: Error | undefined = new Error("Secret ops/db lacks PGPASSWORD");
    const m = new PostgresMirror({
      connection: async () => {
        if (secret) throw secret;
        return db.config;
      },
      table: "public.settings_test",
      cluster: "dev",
      desired: () => [],
      desiredServices: () => [],
      log,
      minBackoffMs: 50,
      maxBackoffMs: 100,
    });
    mirrors.push(m);
    m.start();
    await eventually(() =>
      expect(m.health()).toEqual({
        ready: false,
        reason: "ConnectionSettingsUnavailable",
        message: "Secret ops/db lacks PGPASSWORD",
      }),
    );
    secret = undefined;
    await eventually(() => expect(m.health()).toMatchObject({ ready: true, reason: "Synced" }));
  });

  /** a login role of the test server, with only what `grants` give it */
  const role = async (name: string, ...grants: string[]) => {
    await db.query(`CREATE ROLE ${name} LOGIN PASSWORD 'pw'`);
    for (const grant of grants) await db.query(grant.replaceAll("$role", name));
    return { ...db.config, user: name, password: "pw" };
  };
  const observerTable = (qualified: string) => `CREATE TABLE ${qualified} (
      cluster text NOT NULL, namespace text NOT NULL, service text NOT NULL, pod_uid text NOT NULL, pod_name text,
      pod_ip inet NOT NULL, ready boolean NOT NULL DEFAULT true, first_seen timestamptz NOT NULL DEFAULT now(),
      last_seen timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (cluster, namespace, service, pod_uid))`;

  it("with createSchema: false, writes an existing table as a role that has only DML on it", async () => {
    await db.query(`CREATE SCHEMA lp`);
    await db.query(observerTable("lp.endpoints"));
    const dml = await role(
      "mirror_dml",
      "GRANT USAGE ON SCHEMA lp TO $role",
      "GRANT SELECT, INSERT, UPDATE, DELETE ON lp.endpoints TO $role",
    );
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    const config = { connection: async () => dml };
    // creating what exists already still needs CREATE rights: PostgreSQL checks them first
    const creating = mirror("lp.endpoints", desired, "dev", undefined, config);
    await eventually(() => expect(creating.health()).toMatchObject({ ready: false, reason: "PermissionDenied" }));
    expect(creating.health().message).toContain("createSchema: false");
    await creating.stop();

    await mirror("lp.endpoints", desired, "dev", undefined, { ...config, createSchema: false }).idle();
    expect(await rows("lp.endpoints")).toEqual(["apps/web web-1 10.42.0.10"]);
  });

  it("with createSchema: true, creates schema, table and indexes as a role with CREATE on the database", async () => {
    const ddl = await role("mirror_ddl", "GRANT CREATE ON DATABASE postgres TO $role");
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    await mirror("ddl.endpoints", desired, "dev", undefined, { connection: async () => ddl }).idle();
    expect(await rows("ddl.endpoints")).toEqual(["apps/web web-1 10.42.0.10"]);
    const owner = await db.query(`SELECT tableowner FROM pg_tables WHERE schemaname = 'ddl'`);
    expect(owner.rows).toEqual([{ tableowner: "mirror_ddl" }]);
  });

  it("with createSchema: false, reports a missing table or one unlike observer's, and writes once it is fixed", async () => {
    const health: SinkHealth[] = [];
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    const m = mirror("public.precreated", desired, "dev", h => health.push(h), { createSchema: false });
    await eventually(() => expect(m.health()).toMatchObject({ ready: false, reason: "TableMissing" }));
    expect(m.health().message).toContain("table public.precreated does not exist");
    await db.query(`CREATE TABLE public.precreated (cluster text, namespace text, service text, pod_uid text)`);
    await eventually(() => expect(m.health()).toMatchObject({ ready: false, reason: "TableMismatch" }));
    expect(m.health().message).toContain("pod_ip inet (missing)");
    expect(m.health().message).toContain("a primary key or unique index on (cluster, namespace, service, pod_uid)");
    // in one transaction: the mirror never sees the table gone again
    await db.query(`DROP TABLE public.precreated; ${observerTable("public.precreated")}`);
    await m.idle();
    expect(await rows("public.precreated")).toEqual(["apps/web web-1 10.42.0.10"]);
    expect(health.map(h => h.reason)).toEqual(["TableMissing", "TableMismatch", "Synced"]);
  });

  /** a second session holding an ACCESS EXCLUSIVE lock on the table until release() */
  const lockTable = async (table: string) => {
    const other = new pg.Client(db.config);
    await other.connect();
    await other.query("BEGIN");
    await other.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    return {
      release: async () => {
        await other.query("COMMIT");
        await other.end();
      },
    };
  };
  const waitingOnLocks = async () =>
    (await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`)).rows[0].n;

  it("fails a write stuck behind another session's lock after lock_timeout, and writes once the lock is gone", async () => {
    const desired = new Desired();
    const web = desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    const m = mirror("public.locked", desired, "dev", undefined, { lockTimeoutMs: 200 });
    await m.idle();
    const lock = await lockTable("public.locked");
    desired.set("apps", "web", [["web-2", "10.42.0.11"]]);
    m.markDirty(web);
    await eventually(() =>
      expect(m.health()).toMatchObject({
        ready: false,
        reason: "DatabaseUnavailable",
        message: "canceling statement due to lock timeout",
      }),
    );
    await lock.release();
    await m.idle();
    expect(await rows("public.locked")).toEqual(["apps/web web-2 10.42.0.11"]);
  });

  it("stops within stopTimeoutMs while a write waits on a lock, closing that connection", async () => {
    const health: SinkHealth[] = [];
    const desired = new Desired();
    const web = desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    const m = mirror("public.stuck", desired, "dev", h => health.push(h), {
      lockTimeoutMs: 60_000,
      statementTimeoutMs: 60_000,
      stopTimeoutMs: 300,
    });
    await m.idle();
    const lock = await lockTable("public.stuck");
    try {
      m.markDirty(web);
      await eventually(async () => expect(await waitingOnLocks()).toBe(1));
      const started = Date.now();
      await m.stop();
      // without timeouts it waited for the lock (60 s here, for ever by default)
      expect(Date.now() - started).toBeLessThan(3000);
      await eventually(async () => expect(await waitingOnLocks()).toBe(0));
      // the write it ended is no health change of the PodIndex (no Warning Event for a mirror that is gone)
      expect(health.map(h => h.reason)).toEqual(["Synced"]);
    } finally {
      await lock.release();
    }
  });

  it("names the indexes of a 63-character table uniquely and within 63 bytes", async () => {
    const table = `t${"x".repeat(62)}`;
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    await mirror(table, desired).idle();
    const idx = await db.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [table]);
    const defs = idx.rows.map(i => i.indexdef.replace(/.* USING btree /, ""));
    expect(defs.sort()).toEqual(["(cluster, namespace, service, pod_uid)", "(namespace, service)", "(pod_ip)"]);
    for (const i of idx.rows) expect(Buffer.byteLength(i.indexname)).toBeLessThanOrEqual(63);
    expect(indexName("server", "pod_ip")).toBe("server_pod_ip");
    expect(indexName(table, "pod_ip")).not.toBe(indexName(`${table.slice(0, 62)}y`, "pod_ip"));
  });

  it("reports one health change per state and reason, whatever each failed attempt's error says", async () => {
    const health: SinkHealth[] = [];
    let attempts = 0;
    const desired = new Desired();
    desired.set("apps", "web", [["web-1", "10.42.0.10"]]);
    // each attempt fails with its own text (a different unknown user), then the settings are right
    const m = mirror("public.flap", desired, "dev", h => health.push(h), {
      minBackoffMs: 10,
      maxBackoffMs: 10,
      connection: async () => (++attempts <= 4 ? { ...db.config, user: `nobody_${attempts}` } : db.config),
    });
    await m.idle();
    expect(attempts).toBeGreaterThan(4);
    expect(health.map(h => h.reason)).toEqual(["DatabaseUnavailable", "Synced"]);
    expect(health[0].message).toContain("nobody_1");
  });

  it("never connects when another PodIndex mirrors into the same table and cluster", async () => {
    const health: SinkHealth[] = [];
    const m = mirror("public.server", new Desired(), "dev", h => health.push(h), {
      claimedBy: "first",
      connection: () => Promise.reject(new Error("must not connect")),
    });
    expect(m.health()).toEqual({
      ready: false,
      reason: "TableInUse",
      message:
        'public.server with cluster "dev" is mirrored by PodIndex first: give this PodIndex its own table or cluster',
    });
    expect(health).toEqual([m.health()]);
  });

  it("refuses hostile table names before connecting", () => {
    for (const bad of ["x; drop table y", "Public.Foo", "a.b.c", '"quoted"', "", "server--", "1abc"]) {
      expect(
        () =>
          new PostgresMirror({
            connection: () => Promise.reject(new Error("must not connect")),
            table: bad,
            cluster: "dev",
            desired: () => [],
            desiredServices: () => [],
            log,
          }),
      ).toThrow(TableNameError);
    }
  });
});
