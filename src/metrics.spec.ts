import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { testServer, type TestServer } from "../test/support/server";

describe("Metrics", () => {
  let t: TestServer;
  afterEach(() => t.app.close());

  const lag = async () => {
    const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
    return Object.fromEntries(
      [...text.matchAll(/^podindex_event_loop_lag_seconds\{quantile="([\d.]+)"\} (\S+)$/gm)].map(m => [
        m[1],
        Number(m[2]),
      ]),
    );
  };

  it("exports how late the event loop ran since the last scrape", async () => {
    t = testServer({});
    await t.app.ready();
    await sleep(30); // the sampler runs
    await lag(); // starts a fresh interval
    await sleep(30);
    const blockedUntil = Date.now() + 150;
    while (Date.now() < blockedUntil); // a handler that holds the loop for 150 ms
    await sleep(30);
    const blocked = await lag();
    expect(Object.keys(blocked).sort()).toEqual(["0.5", "0.99", "1"]);
    expect(blocked["1"]).toBeGreaterThan(0.1);
    await sleep(30);
    expect((await lag())["1"]).toBeLessThan(blocked["1"]); // the next scrape covers only its own interval
  });
});
