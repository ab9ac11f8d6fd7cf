/**
 * What every contender process (bench/run-module.ts, bench/informer-server.ts,
 * bench/constant-server.ts) does for the bench: announce its port, and answer a "memory" message
 * with its memory after the collection V8 makes when told memory is low (the inspector's
 * HeapProfiler.collectGarbage, through an in-process session: no port, no flag). That collection
 * returns to the system at once the pages the list's garbage left, which after a plain `gc()` V8's
 * memory reducer returns only some 10 s later. The session costs: a process that took one answered
 * HTTP requests about a quarter slower afterwards (podindex at 1k: 0.46-0.78x the constant route in
 * five runs against 0.98-1.04x in three), so the bench asks for memory last.
 */
import { Session } from "node:inspector";
import { getHeapStatistics } from "node:v8";

export interface ChildMemory {
  type: "memory";
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** the highest RSS the process reached, in bytes */
  maxRss: number;
  /** how large V8 lets its heap grow, in bytes (--max-old-space-size, or V8's default for the machine) */
  heapLimit: number;
}

export type ChildMessage = { type: "listening"; port: number } | ChildMemory;

/** the collection V8 makes on a low-memory notification: full, compacting, releasing free pages */
function collectAllGarbage(): Promise<void> {
  const session = new Session();
  session.connect();
  return new Promise<void>((ok, fail) =>
    session.post("HeapProfiler.collectGarbage", err => (err ? fail(err) : ok())),
  ).finally(() => session.disconnect());
}

export function serveBench(port: number): void {
  process.on("message", async msg => {
    if (msg !== "memory") return;
    await collectAllGarbage();
    const m = process.memoryUsage();
    const report: ChildMemory = {
      type: "memory",
      ...m,
      maxRss: process.resourceUsage().maxRSS * 1024,
      heapLimit: getHeapStatistics().heap_size_limit,
    };
    process.send!(report);
  });
  // the bench ends a contender by closing its IPC channel
  process.on("disconnect", () => process.exit(0));
  process.send!({ type: "listening", port } satisfies ChildMessage);
}
