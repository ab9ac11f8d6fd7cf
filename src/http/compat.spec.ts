import { request } from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makePod } from "../../test/support/pods";
import { testServer, type TestServer } from "../../test/support/server";
import { COMPAT_CHUNK } from "./compat";

/** GET a path, resolving when the whole body is in. */
function fetchText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path }, res => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", chunk => (body += chunk));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

describe("GET /pods (pod-watcher)", () => {
  let t: TestServer;
  afterEach(() => t.app.close());

  it("answers a lookup while a large /pods is being written, and keeps pod-watcher's shape", async () => {
    t = testServer({ all: {} });
    const pods = COMPAT_CHUNK * 40;
    for (let i = 0; i < pods; i++)
      t.cache.upsert(makePod({ name: `p-${i}`, namespace: `ns-${i % 10}`, ips: [`10.4.${i >> 8}.${i & 255}`] }));
    t.sync();
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = t.app.server.address() as { port: number };

    // /pods is produced page by page: a lookup sent once it starts is answered before its last page
    const events: string[] = [];
    let lookup: Promise<string> | undefined;
    const list = t.lookup.list.bind(t.lookup);
    vi.spyOn(t.lookup, "list").mockImplementation(filter => {
      events.push("page");
      lookup ??= fetchText(port, "/v1/pods/by-ip/10.4.0.7").finally(() => events.push("lookup answered"));
      return list(filter);
    });
    const body = JSON.parse(await fetchText(port, "/pods"));
    expect(JSON.parse(await lookup!).pod.name).toBe("p-7");
    expect(events.filter(e => e === "page")).toHaveLength(40);
    expect(events.lastIndexOf("page")).toBeGreaterThan(events.indexOf("lookup answered"));

    expect(body.count).toBe(pods);
    expect(Object.keys(body.pods)).toHaveLength(pods);
    expect(body.pods["10.4.0.7"]).toMatchObject({ name: "p-7", namespace: "ns-7", pod_ip: "10.4.0.7" });
  });

  it("lists an IP once, under its one owner, and none that two pods claim", async () => {
    t = testServer({ all: {} });
    t.cache.upsert(makePod({ name: "a", ips: ["10.5.0.1", "10.5.0.2"] }));
    t.cache.upsert(makePod({ name: "b", ips: ["10.5.0.2"] }));
    t.sync();
    const res = await t.app.inject({ method: "GET", url: "/pods" });
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(Object.keys(res.json().pods)).toEqual(["10.5.0.1"]);
    expect(res.json().count).toBe(1);
  });
});
