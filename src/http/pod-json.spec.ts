import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { podIndex, testServer, type TestServer } from "../../test/support/server";
import { makeSlice } from "../../test/support/slices";
import { PodIndexView } from "../views/view";
import { PodJson } from "./pod-json";
import { podView } from "./present";

const UID_A = "aaaaaaaa-0000-4000-8000-000000000001";
const UID_B = "bbbbbbbb-0000-4000-8000-000000000002";

describe("answers made once per pod are never stale", () => {
  let t: TestServer;
  afterEach(() => t.app.close());

  const get = async (url: string) => {
    const res = await t.app.inject({ method: "GET", url });
    return { status: res.statusCode, body: res.json() };
  };
  /** the same pod asked for twice by IP and by UID: the second answer comes from the kept text */
  const twice = async (ip: string, uid: string) => {
    const [a, b] = [await get(`/v1/pods/by-ip/${ip}`), await get(`/v1/pods/by-ip/${ip}`)];
    const [c, d] = [await get(`/v1/pods/by-uid/${uid}`), await get(`/v1/pods/by-uid/${uid}`)];
    expect(b).toEqual(a);
    expect(d).toEqual(c);
    return a;
  };

  function serve() {
    t = testServer({ apps: { namespaces: ["apps"], expose: { labels: ["app", "tier"] }, services: {} } });
    t.sync();
    t.cache.upsert(makePod({ uid: UID_A, name: "web-1", labels: { app: "web", tier: "1" }, ips: ["10.1.0.1"] }));
  }

  it("shows a pod's change in the very next lookup (a new phase, readiness, labels)", async () => {
    serve();
    expect((await twice("10.1.0.1", UID_A)).body.pod).toMatchObject({ phase: "Running", ready: true });
    t.cache.upsert(
      makePod({ uid: UID_A, name: "web-1", labels: { app: "api", tier: "2" }, ips: ["10.1.0.1"], ready: false }),
    );
    const after = (await twice("10.1.0.1", UID_A)).body.pod;
    expect(after).toMatchObject({ ready: false, labels: { app: "api", tier: "2" } });
  });

  it("a relabelled pod the PodIndex no longer selects is no longer served", async () => {
    t = testServer({ web: { podSelector: { matchLabels: { app: "web" } } } });
    t.sync();
    t.cache.upsert(makePod({ uid: UID_A, name: "web-1", labels: { app: "web" }, ips: ["10.1.0.1"] }));
    expect((await twice("10.1.0.1", UID_A)).status).toBe(200);
    t.cache.upsert(makePod({ uid: UID_A, name: "web-1", labels: { app: "db" }, ips: ["10.1.0.1"] }));
    expect((await get("/v1/pods/by-ip/10.1.0.1")).status).toBe(404);
    expect((await get(`/v1/pods/by-uid/${UID_A}`)).status).toBe(404);
  });

  it("answers 404 for a deleted pod, and names the new pod when its IP is reused", async () => {
    serve();
    expect((await twice("10.1.0.1", UID_A)).body.pod.name).toBe("web-1");
    t.cache.remove({ metadata: { uid: UID_A } });
    expect((await get("/v1/pods/by-ip/10.1.0.1")).status).toBe(404);
    expect((await get(`/v1/pods/by-uid/${UID_A}`)).status).toBe(404);
    t.cache.upsert(makePod({ uid: UID_B, name: "web-2", labels: { app: "web" }, ips: ["10.1.0.1"] }));
    const reused = (await twice("10.1.0.1", UID_B)).body.pod;
    expect(reused).toMatchObject({ uid: UID_B, name: "web-2", labels: { app: "web" } });
  });

  it("follows a PodIndex spec change (same name, what it exposes changed) in the very next lookup", async () => {
    serve();
    expect((await twice("10.1.0.1", UID_A)).body.pod.labels).toEqual({ app: "web", tier: "1" });
    t.views.set(
      PodIndexView.fromResource(podIndex("apps", { namespaces: ["apps"], expose: { labels: ["tier"] }, services: {} })),
    );
    expect((await twice("10.1.0.1", UID_A)).body.pod.labels).toEqual({ tier: "1" });
    t.views.set(PodIndexView.fromResource(podIndex("apps", { namespaces: ["other"] })));
    expect((await get("/v1/pods/by-ip/10.1.0.1")).status).toBe(404);
  });

  it("shows each scope's indexes, whichever scope was asked first", async () => {
    t = testServer({ a: {}, b: { expose: { labels: [] } } });
    t.sync();
    t.cache.upsert(makePod({ uid: UID_A, name: "web-1", labels: { app: "web" }, ips: ["10.1.0.1"] }));
    for (let round = 0; round < 2; round++) {
      expect((await get("/v1/pods/by-ip/10.1.0.1?index=b")).body.pod).toMatchObject({ indexes: ["b"], labels: {} });
      expect((await get("/v1/pods/by-ip/10.1.0.1")).body.pod).toMatchObject({
        indexes: ["a", "b"],
        labels: { app: "web" },
      });
      expect((await get("/v1/pods/by-ip/10.1.0.1?index=a")).body.pod.indexes).toEqual(["a"]);
    }
  });

  it("shows the Services a pod backs as they are now, though the pod itself did not change", async () => {
    serve();
    expect((await twice("10.1.0.1", UID_A)).body.pod.services).toEqual([]);
    const slice = (ready: boolean) =>
      makeSlice("apps", "web", "web-abc", [{ ip: "10.1.0.1", pod: "web-1", uid: UID_A, ready }]);
    t.endpoints.upsert(slice(true));
    expect((await twice("10.1.0.1", UID_A)).body.pod.services).toEqual([
      { namespace: "apps", name: "web", ready: true },
    ]);
    t.endpoints.upsert({ ...slice(false), metadata: { ...slice(false).metadata, resourceVersion: "2" } });
    expect((await get("/v1/pods/by-ip/10.1.0.1")).body.pod.services).toEqual([
      { namespace: "apps", name: "web", ready: false },
    ]);
    t.endpoints.remove(slice(false));
    expect((await get("/v1/pods/by-ip/10.1.0.1")).body.pod.services).toEqual([]);
  });

  it("stops serving a pod in the very next lookup when its PodIndex is deleted or refused", async () => {
    serve();
    expect((await twice("10.1.0.1", UID_A)).status).toBe(200);
    t.views.refuse("apps", "spec.namespaces: not a list");
    expect((await get("/v1/pods/by-ip/10.1.0.1")).status).toBe(404);
    serve();
    expect((await twice("10.1.0.1", UID_A)).status).toBe(200);
    t.views.delete("apps");
    expect((await get("/v1/pods/by-ip/10.1.0.1")).status).toBe(404);
  });

  it("drops a Service from a kept answer when its slice is relabelled out of the PodIndex's selector, and keeps it through other pods' slice events", async () => {
    t = testServer({ apps: { services: { selector: { matchLabels: { team: "a" } } } } });
    t.sync();
    t.cache.upsert(makePod({ uid: UID_A, name: "web-1", ips: ["10.1.0.1"] }));
    const slice = (team: string, rv: string) => {
      const s = makeSlice("default", "web", "web-abc", [{ ip: "10.1.0.1", pod: "web-1", uid: UID_A, ready: true }], {
        labels: { team },
      });
      return { ...s, metadata: { ...s.metadata, resourceVersion: rv } };
    };
    t.endpoints.upsert(slice("a", "1"));
    const web = [{ namespace: "default", name: "web", ready: true }];
    expect((await twice("10.1.0.1", UID_A)).body.pod.services).toEqual(web);
    t.endpoints.upsert(
      makeSlice("default", "db", "db-abc", [{ ip: "10.1.0.2", pod: "db-1", uid: UID_B, ready: true }]),
    );
    expect((await twice("10.1.0.1", UID_A)).body.pod.services).toEqual(web);
    t.endpoints.upsert(slice("b", "2"));
    expect((await twice("10.1.0.1", UID_A)).body.pod.services).toEqual([]);
  });

  it("answers with the spelling of the IP asked for, from one kept text", async () => {
    t = testServer({ all: {} });
    t.sync();
    t.cache.upsert(makePod({ uid: UID_A, name: "web-1", ips: ["fd00:42::10"] }));
    for (const ip of ["fd00:42::10", "FD00:0042:0000:0000:0000:0000:0000:0010", "fd00:42:0::10"])
      expect((await get(`/v1/pods/by-ip/${ip}`)).body).toMatchObject({ ip, pod: { name: "web-1" } });
  });
});

describe("PodJson", () => {
  const key = fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" });
  const meta = fc.dictionary(key, fc.string({ unit: "grapheme" }), { maxKeys: 5 });

  it("is JSON.stringify(podView(pod)) for any pod, the first time and every time after", () => {
    fc.assert(
      fc.property(meta, meta, fc.boolean(), fc.option(fc.string()), (labels, annotations, ready, node) => {
        const t = testServer({ all: { expose: { annotations: ["a", "b", "c"] }, services: {} } });
        t.cache.setAnnotationFilter(() => true);
        t.sync();
        t.cache.upsert(
          makePod({ uid: UID_A, labels, annotations, ready, nodeName: node ?? undefined, ips: ["10.9.0.1"] }),
        );
        const hit = t.lookup.byIp("10.9.0.1");
        if (hit.kind !== "hit") throw new Error(`expected a hit, got ${hit.kind}`);
        const json = new PodJson();
        expect(json.text(hit.pod)).toBe(JSON.stringify(podView(hit.pod)));
        expect(json.text(hit.pod)).toBe(JSON.stringify(podView(hit.pod)));
      }),
      { numRuns: 200 },
    );
  });

  it("answers by IP as JSON.stringify({ ip, pod }) for the IP as spelt, whatever was asked before", () => {
    const spellings = fc.array(fc.constantFrom("fd00::1", "FD00::1", "fd00:0::1", "uid"), { maxLength: 8 });
    fc.assert(
      fc.property(meta, spellings, (labels, asked) => {
        const t = testServer({ all: {} });
        t.sync();
        t.cache.upsert(makePod({ uid: UID_A, labels, ips: ["fd00::1"] }));
        const hit = t.lookup.byIp("fd00::1");
        if (hit.kind !== "hit") throw new Error(`expected a hit, got ${hit.kind}`);
        const json = new PodJson();
        const pod = JSON.stringify(podView(hit.pod));
        for (const ip of asked)
          if (ip === "uid") expect(json.text(hit.pod)).toBe(pod);
          else expect(json.byIp(ip, hit.pod)).toBe(JSON.stringify({ ip, pod: podView(hit.pod) }));
      }),
      { numRuns: 200 },
    );
  });
});
