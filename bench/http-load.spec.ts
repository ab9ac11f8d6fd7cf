import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { concurrent, histogramQuantile, paired, stateOf, type Buckets } from "./http-load";

describe("concurrent", () => {
  const seen = new Map<string, string | undefined>();
  let open = 0;
  let mostOpen = 0;
  // answers /ok/<n> with 200 after 3 ms, anything else with 404; keeps what each path was sent with
  const server = createServer((req, res) => {
    seen.set(req.url!, req.headers["x-n"] as string | undefined);
    mostOpen = Math.max(mostOpen, ++open);
    setTimeout(() => {
      open--;
      res.writeHead(req.url!.startsWith("/ok/") ? 200 : 404, { "content-length": 2 }).end("{}");
    }, 3);
  });
  let base = "";
  beforeAll(async () => {
    await new Promise<void>(ok => server.listen(0, "127.0.0.1", ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise(ok => server.close(ok)));

  it("keeps as many requests in flight as it has clients, each with its own path and headers, timed to the microsecond", async () => {
    const r = await concurrent({ url: i => `${base}/ok/${i}?q=1`, headers: i => ({ "x-n": String(i) }) }, 4, 1);
    expect(mostOpen).toBe(4);
    expect(r.failures).toBe(0);
    // four connections each answered every 3 ms or so: about 1,300 a second, never more than 4 / 3 ms
    expect(r.perSecond).toBeGreaterThan(200);
    expect(r.perSecond).toBeLessThanOrEqual(4 / 0.003);
    expect(r.requests).toBeGreaterThan(200);
    expect(r.p50Ms).toBeGreaterThanOrEqual(3);
    expect(Number.isInteger(r.p50Ms)).toBe(false);
    expect(seen.get("/ok/17?q=1")).toBe("17");
    // the 4,096 distinct requests are shared out: each connection starts on its own quarter (a
    // connection answered every 3 ms sends about 330 in the second, so none reaches the next quarter)
    expect([0, 1024, 2048, 3072].map(n => seen.get(`/ok/${n}?q=1`))).toEqual(["0", "1024", "2048", "3072"]);
    expect(seen.has("/ok/1023?q=1")).toBe(false);
  });

  it("counts an answer of another status as a failure, not a sample", async () => {
    const r = await concurrent({ url: i => `${base}/${i % 2 ? "ok" : "missing"}/${i}` }, 2, 0.5);
    expect(r.failures).toBeGreaterThan(0);
    expect(r.requests).toBeGreaterThan(0);
    expect(Math.abs(r.failures - r.requests)).toBeLessThan(0.2 * r.requests);
  });

  it("refuses a load of more than one origin", async () => {
    await expect(concurrent({ url: i => `http://127.0.0.${1 + (i % 2)}:1/x` }, 1, 0.1)).rejects.toThrow(/one origin/);
  });
});

describe("paired", () => {
  // two servers: one answers at once, the other after 4 ms
  const servers = [0, 4].map(ms =>
    createServer((_req, res) => {
      const answer = () => res.writeHead(200, { "content-length": 2 }).end("{}");
      if (ms) setTimeout(answer, ms);
      else answer();
    }),
  );
  const bases: string[] = [];
  beforeAll(async () => {
    for (const s of servers) {
      await new Promise<void>(ok => s.listen(0, "127.0.0.1", ok));
      bases.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
    }
  });
  afterAll(() => Promise.all(servers.map(s => new Promise(ok => s.close(ok)))));

  it("loads two servers in turn and gives the median ratio of their answers a second in the same rounds", async () => {
    const [fast, slow] = bases.map(base => ({ url: (i: number) => `${base}/${i}` }));
    const p = await paired(slow, fast, 4, 3, 0.3);
    expect(p.rounds).toBe(3);
    // each round's ratio, in the order they ran, and their median
    expect(p.ratios).toHaveLength(3);
    expect([...p.ratios].sort((x, y) => x - y)[1]).toBe(p.aPerB);
    for (const r of p.ratios) expect(r).toBeLessThan(0.5);
    expect(p.a.failures + p.b.failures).toBe(0);
    // the slow server answers each of its 4 clients every 4 ms or so: at most 1,000 a second
    expect(p.a.perSecond).toBeLessThanOrEqual(4 / 0.004);
    expect(p.b.perSecond).toBeGreaterThan(2 * p.a.perSecond);
    expect(p.aPerB).toBeLessThan(0.5);
    expect(p.aPerB).toBeGreaterThan(0);
    expect(p.a.p50Ms).toBeGreaterThanOrEqual(4);
    // each round counts the answers of the 0.3 s asked for, from when its clients send: not the
    // time autocannon takes to build their requests, when nothing is answered
    for (const side of [p.a, p.b]) expect(side.requests / side.perSecond).toBeCloseTo(3 * 0.3, 6);
    // both ways round: b ÷ a is about the inverse
    const q = await paired(fast, slow, 4, 3, 0.3);
    expect(q.aPerB).toBeGreaterThan(2);
  });

  it("reads a server that stops answering as none a second, not as what it answered before", async () => {
    let answered = 0;
    // answers its first 50 requests, then holds every request open
    const stalls = createServer((_req, res) => {
      if (++answered <= 50) res.writeHead(200, { "content-length": 2 }).end("{}");
    });
    await new Promise<void>(ok => stalls.listen(0, "127.0.0.1", ok));
    try {
      const stalled = { url: (i: number) => `http://127.0.0.1:${(stalls.address() as AddressInfo).port}/${i}` };
      const p = await paired(stalled, { url: (i: number) => `${bases[0]}/${i}` }, 4, 3, 0.3);
      // its 50 answers came within the first turn's warm-up: no round counts one
      expect(p.ratios).toEqual([0, 0, 0]);
      expect(p.aPerB).toBe(0);
      expect(p.a.perSecond).toBe(0);
      expect(p.b.perSecond).toBeGreaterThan(0);
    } finally {
      stalls.closeAllConnections();
      await new Promise(ok => stalls.close(ok));
    }
  });

  it("stops a held server's process while the other is loaded, and resumes it for its own turn", async () => {
    const child = spawn(
      process.execPath,
      [
        "-e",
        `require("node:http").createServer((q, r) => r.end("{}")).listen(0, "127.0.0.1", function () { console.log(this.address().port) })`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const port = await new Promise<string>(ok => child.stdout.once("data", (d: Buffer) => ok(d.toString().trim())));
      const state = () => stateOf(child.pid!);
      // the in-process server notes the child's state as each of its requests arrives
      const states: (string | undefined)[] = [];
      const local = createServer((_req, res) => {
        states.push(state());
        res.writeHead(200, { "content-length": 2 }).end("{}");
      });
      await new Promise<void>(ok => local.listen(0, "127.0.0.1", ok));
      const url = (base: string) => ({ url: (i: number) => `${base}/${i}` });
      const p = await paired(
        url(`http://127.0.0.1:${(local.address() as AddressInfo).port}`),
        url(`http://127.0.0.1:${port}`),
        2,
        2,
        0.2,
        { b: { pid: child.pid! } },
      );
      await new Promise(ok => local.close(ok));
      // all the while, but for a request each connection may have sent as its turn ended (2 × 2)
      expect(states.length).toBeGreaterThan(100);
      expect(states.filter(x => x !== "T").length).toBeLessThanOrEqual(4);
      // the child answered its own turns, and runs again after
      expect(p.b.requests).toBeGreaterThan(0);
      expect(p.b.failures).toBe(0);
      expect(state()).not.toBe("T");
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("histogramQuantile", () => {
  const start: Buckets = [
    [0.001, 50],
    [0.01, 60],
    [0.1, 60],
    [Infinity, 61],
  ];

  it("takes the quantile of what the histogram gained between two scrapes, within its bucket", () => {
    // gained: 90 samples ≤ 1 ms, 8 in (1, 10] ms, 2 in (10, 100] ms
    const end: Buckets = [
      [0.001, 140],
      [0.01, 158],
      [0.1, 160],
      [Infinity, 161], // nothing past 100 ms was gained
    ];
    expect(histogramQuantile(start, end, 0.5)).toBeCloseTo(0.001 * (50 / 90)); // rank 50 of 90 in [0, 1 ms]
    expect(histogramQuantile(start, end, 0.95)).toBeCloseTo(0.001 + 0.009 * (5 / 8)); // rank 95: 5th of 8 in (1, 10]
    expect(histogramQuantile(start, end, 0.99)).toBeCloseTo(0.01 + 0.09 * (1 / 2)); // rank 99: 1st of 2 in (10, 100]
  });

  it("reads a quantile past the last finite bound as that bound, and nothing gained as NaN", () => {
    const end: Buckets = [
      [0.001, 50],
      [0.01, 60],
      [0.1, 60],
      [Infinity, 71], // ten samples over 100 ms
    ];
    expect(histogramQuantile(start, end, 0.99)).toBe(0.1);
    expect(histogramQuantile(start, start, 0.99)).toBeNaN();
  });
});
