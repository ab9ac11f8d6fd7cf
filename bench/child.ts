/**
 * What every contender process (bench/run-module.ts, bench/informer-server.ts,
 * bench/constant-server.ts) does for the bench: announce its port, and answer a "memory" message
 * with its memory after two full garbage collections (it runs with --expose-gc).
 */

export interface ChildMemory {
  type: "memory";
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** the highest RSS the process reached, in bytes */
  maxRss: number;
}

export type ChildMessage = { type: "listening"; port: number } | ChildMemory;

export function serveBench(port: number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("a bench contender must run with --expose-gc");
  process.on("message", msg => {
    if (msg !== "memory") return;
    gc();
    gc();
    const m = process.memoryUsage();
    const report: ChildMemory = { type: "memory", ...m, maxRss: process.resourceUsage().maxRSS * 1024 };
    process.send!(report);
  });
  // the bench ends a contender by closing its IPC channel
  process.on("disconnect", () => process.exit(0));
  process.send!({ type: "listening", port } satisfies ChildMessage);
}
