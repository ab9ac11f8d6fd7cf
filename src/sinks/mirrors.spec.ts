import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type RunningPostgres } from "../../test/support/embedded-pg";
import { eventually } from "../../test/support/module";
import { makeSlice } from "../../test/support/slices";
import { EndpointCache } from "../endpoints/endpoint-cache";
import { ServiceLookup } from "../endpoints/service-lookup";
import { PodIndex } from "../kinds/podindex";
import { Readiness } from "../readiness";
import { PodIndexView } from "../views/view";
import { ViewSet } from "../views/view-set";
import { Mirrors, mirrorTarget } from "./mirrors";
import type { SinkHealth } from "./postgres-mirror";

const view = (name: string, table: string, generation = 1) =>
  PodIndexView.fromResource(
    Object.assign(new PodIndex(), {
      metadata: { name, uid: `uid-${name}`, generation },
      spec: {
        namespaces: ["apps"],
        services: { postgres: { secretRef: { name: "pg", namespace: "apps" }, table, cluster: "dev" } },
      },
    }),
  );

describe("mirrorTarget", () => {
  it("names one (table, cluster) pair however the table is spelled", () => {
    expect(mirrorTarget("server", "dev")).toBe(mirrorTarget("public.server", "dev"));
    expect(mirrorTarget("server", "dev")).not.toBe(mirrorTarget("server", "prod"));
  });
});

describe("Mirrors against a real PostgreSQL", () => {
  let db: RunningPostgres;
  let running: Mirrors | undefined;
  beforeAll(async () => {
    db = await startPostgres();
  }, 60_000);
  afterAll(() => db?.close());
  afterEach(() => running?.stop());

  function setup() {
    const views = new ViewSet();
    const endpoints = new EndpointCache();
    const health: [string, SinkHealth][] = [];
    const mirrors = new Mirrors({
      views,
      services: new ServiceLookup(endpoints, views, new Readiness([])),
      readSecret: async () => ({
        PGHOST: String(db.config.host),
        PGPORT: String(db.config.port),
        PGUSER: String(db.config.user),
        PGPASSWORD: String(db.config.password),
        PGDATABASE: String(db.config.database),
        PGSSLMODE: "disable",
      }),
      log: pino({ level: "silent" }),
      onHealth: (v, h) => void health.push([v.name, h]),
      onWrite: () => {},
      timings: { coalesceMs: 20, minBackoffMs: 100, maxBackoffMs: 400 },
    });
    running = mirrors;
    const serve = (...pods: string[]) => {
      endpoints.upsert(
        makeSlice(
          "apps",
          "web",
          "web-1",
          pods.map((pod, i) => ({ ip: `10.42.0.${10 + i}`, pod })),
        ),
      );
      mirrors.markDirty({ namespace: "apps", name: "web" });
    };
    return { views, mirrors, health, serve };
  }
  const rows = async (table: string) =>
    (await db.query(`SELECT pod_name FROM ${table} WHERE cluster = 'dev' ORDER BY 1`)).rows.map(r => r.pod_name);
  const exists = async (table: string) => (await db.query(`SELECT to_regclass($1) AS t`, [table])).rows[0].t !== null;

  it("runs no mirror until this replica leads and the slices are listed", async () => {
    const { views, mirrors, serve } = setup();
    serve("web-a");
    views.set(view("a", "public.waits"));
    mirrors.reconcile();
    mirrors.slicesListed();
    expect(mirrors.health("a")).toBeUndefined();
    mirrors.start();
    await eventually(async () => expect(await rows("public.waits")).toEqual(["web-a"]));
    expect(mirrors.health("a")).toMatchObject({ ready: true, reason: "Synced" });
  });

  it("waits for the EndpointSlices to be listed even when it leads (a full resync before would empty the table)", async () => {
    const { views, mirrors, serve } = setup();
    views.set(view("a", "public.listed"));
    mirrors.start();
    mirrors.reconcile();
    expect(mirrors.health("a")).toBeUndefined();
    serve("web-a");
    mirrors.slicesListed();
    await eventually(async () => expect(await rows("public.listed")).toEqual(["web-a"]));
  });

  it("stops writing when it no longer leads, and repairs with a full resync when it leads again", async () => {
    const { views, mirrors, serve } = setup();
    serve("web-a");
    views.set(view("a", "public.handover"));
    mirrors.slicesListed();
    mirrors.start();
    await eventually(async () => expect(await rows("public.handover")).toEqual(["web-a"]));
    await mirrors.stop();
    expect(mirrors.health("a")).toBeUndefined();
    // while another replica leads: this one writes nothing, and someone empties the table
    serve("web-a", "web-b");
    await db.query(`DELETE FROM public.handover`);
    mirrors.start();
    await eventually(async () => expect(await rows("public.handover")).toEqual(["web-a", "web-b"]));
  });

  it("gives a (table, cluster) pair to the PodIndex first by name, and passes it on when that one goes", async () => {
    const { views, mirrors, health, serve } = setup();
    serve("web-a");
    mirrors.slicesListed();
    mirrors.start();
    views.set(view("b", "public.shared"));
    mirrors.reconcile();
    await eventually(async () => expect(await rows("public.shared")).toEqual(["web-a"]));
    // "a" sorts first: it takes the pair over, and "b" reports TableInUse without connecting
    views.set(view("a", "shared"));
    mirrors.reconcile();
    expect(mirrors.health("b")).toMatchObject({ ready: false, reason: "TableInUse" });
    await eventually(() => expect(mirrors.health("a")).toMatchObject({ ready: true }));
    views.delete("a");
    mirrors.reconcile();
    await eventually(() => expect(mirrors.health("b")).toMatchObject({ ready: true }));
    expect(mirrors.health("a")).toBeUndefined();
    expect(health.filter(([name]) => name === "b").map(([, h]) => h.reason)).toContain("TableInUse");
  });

  it("builds a new mirror for a new generation, and drops the mirror of a PodIndex that no longer has one", async () => {
    const { views, mirrors } = setup();
    mirrors.slicesListed();
    mirrors.start();
    views.set(view("a", "public.gen_one"));
    mirrors.reconcile();
    await eventually(async () => expect(await exists("public.gen_one")).toBe(true));
    views.set(view("a", "public.gen_two", 2));
    mirrors.reconcile();
    await eventually(async () => expect(await exists("public.gen_two")).toBe(true));
    views.delete("a");
    mirrors.reconcile();
    expect(mirrors.healths().size).toBe(0);
  });
});
