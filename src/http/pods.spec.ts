import { afterEach, describe, expect, it, vi } from "vitest";
import { makePod } from "../../test/support/pods";
import { testServer, type TestServer } from "../../test/support/server";
import { LIST_SCAN_BUDGET } from "../lookup";
import { DEFAULT_PAGE, MAX_PAGE, encodeContinue } from "./pods";

describe("GET /v1/pods paging", () => {
  let t: TestServer;
  afterEach(() => t.app.close());

  const get = async (url: string) => {
    const res = await t.app.inject({ method: "GET", url });
    return { status: res.statusCode, body: res.json() };
  };
  /** every page from `url` on, following `continue` */
  const pages = async (url: string, from?: string) => {
    const out: { items: { namespace: string; name: string }[]; count: number; continue?: string }[] = [];
    let token = from;
    do {
      const { body } = await get(`${url}${url.includes("?") ? "&" : "?"}${token ? `continue=${token}` : ""}`);
      out.push(body);
      token = body.continue;
    } while (token);
    return out;
  };

  function serve(pods: number, spec = {}) {
    t = testServer({ all: spec });
    for (let i = 0; i < pods; i++)
      t.cache.upsert(
        makePod({ name: `p-${(i * 7919) % pods}`, namespace: `ns-${i % 7}`, ips: [`10.3.${i >> 8}.${i & 255}`] }),
      );
    t.sync();
  }

  it("pages every pod once in namespace/name order, DEFAULT_PAGE at a time", async () => {
    serve(1200);
    const all = await pages("/v1/pods");
    expect(all.map(p => p.count)).toEqual([DEFAULT_PAGE, DEFAULT_PAGE, 200]);
    const keys = all.flatMap(p => p.items.map(i => `${i.namespace}/${i.name}`));
    expect(keys).toEqual([...keys].sort());
    expect(new Set(keys).size).toBe(1200);
    expect(all.at(-1)!.continue).toBeUndefined();
  });

  it("honours limit and namespace, and sees pods added between pages", async () => {
    serve(100);
    const first = await get("/v1/pods?namespace=ns-3&limit=5");
    expect(first.body.items.map((p: { namespace: string }) => p.namespace)).toEqual(Array(5).fill("ns-3"));
    t.cache.upsert(makePod({ name: "zz-late", namespace: "ns-3" }));
    t.cache.upsert(makePod({ name: "a-early", namespace: "ns-3" })); // before the token: not seen
    const rest = await pages("/v1/pods?namespace=ns-3&limit=5", first.body.continue);
    const names = [...first.body.items, ...rest.flatMap(p => p.items)].map((p: { name: string }) => p.name);
    expect(names).toHaveLength(14 + 1); // 14 of the 100 are in ns-3
    expect(names.at(-1)).toBe("zz-late");
    expect(names).not.toContain("a-early");
  });

  it("sorts no cache per request: pages walk a sorted index built once", async () => {
    serve(3000);
    const scans = vi.spyOn(t.cache, "values");
    await pages("/v1/pods?limit=100");
    await pages("/v1/pods?limit=1000");
    expect(scans).toHaveBeenCalledTimes(1);
  });

  it("walks at most LIST_SCAN_BUDGET pods for one page: fewer items, and a continue", async () => {
    serve(LIST_SCAN_BUDGET + 10, { namespaces: ["served"] });
    t.cache.upsert(makePod({ name: "last", namespace: "zz" })); // not served
    t.cache.upsert(makePod({ name: "one", namespace: "served" }));
    const first = await get("/v1/pods");
    expect(first.body).toMatchObject({ items: [], count: 0 });
    expect(first.body.continue).toEqual(expect.any(String));
    const all = await pages("/v1/pods", first.body.continue);
    expect(all.flatMap(p => p.items.map(i => i.name))).toEqual(["one"]);
  });

  it.each([
    ["limit=0", /limit must be a whole number from 1 to 5000/],
    [`limit=${MAX_PAGE + 1}`, /limit/],
    ["limit=ten", /limit/],
    ["limit=1&limit=2", /limit/],
    ["continue=bm90IGpzb24", /continue is not a token/],
    [`continue=${Buffer.from('["a","b"]').toString("base64url")}`, /continue is not a token/],
  ])("refuses %s with 400 and a reason", async (query, message) => {
    serve(3);
    const res = await get(`/v1/pods?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "BadRequest", message: expect.stringMatching(message) });
  });

  it("takes a token naming a pod that is gone: the page starts after where it would sort", async () => {
    serve(10);
    const res = await get(`/v1/pods?continue=${encodeContinue(["ns-3", "", ""])}`);
    expect(res.body.items[0].namespace).toBe("ns-3");
  });
});
