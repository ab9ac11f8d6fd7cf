import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { testServer, type TestServer } from "../../test/support/server";
import { COMPAT_CHUNK } from "./compat";

/** GET a path, resolving when the whole body is in; `onFirstByte` runs when the first chunk arrives. */
function fetchText(port: number, path: string, onFirstByte?: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path }, res => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", chunk => {
        if (body === "") onFirstByte?.();
        body += chunk;
      });
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
    const pods = COMPAT_CHUNK * 20;
    for (let i = 0; i < pods; i++)
      t.cache.upsert(makePod({ name: `p-${i}`, namespace: `ns-${i % 10}`, ips: [`10.4.${i >> 8}.${i & 255}`] }));
    t.sync();
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = t.app.server.address() as { port: number };

    const done: string[] = [];
    let lookup: Promise<string> | undefined;
    const list = fetchText(port, "/pods", () => {
      lookup = fetchText(port, "/v1/pods/by-ip/10.4.0.7").finally(() => done.push("lookup"));
    }).finally(() => done.push("list"));
    const body = JSON.parse(await list);
    expect(JSON.parse(await lookup!).pod.name).toBe("p-7");
    expect(done).toEqual(["lookup", "list"]);

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
