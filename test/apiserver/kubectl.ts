import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import type { SimulatedApiServer } from "./server";

/** Is a kubectl binary on the PATH? Specs that drive the real kubectl are skipped (visibly) without one. */
export const kubectlInstalled = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** kubectl's arguments for this simulator: its kubeconfig, and a discovery/OpenAPI cache that goes with it. */
const baseArgs = (sim: SimulatedApiServer) => [
  "--kubeconfig",
  sim.kubeconfigPath,
  "--cache-dir",
  join(dirname(sim.kubeconfigPath), "kube-cache"),
  "--request-timeout=10s",
];

/**
 * Run the real kubectl against the simulator (asynchronously: the simulator answers from this
 * process), with `input` on stdin. Never throws for a non-zero exit: the result says how it ended.
 */
export function kubectl(sim: SimulatedApiServer, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", [...baseArgs(sim), ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", code => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** A long-running kubectl (e.g. `get -w`): its output so far, and a way to stop it. */
export function kubectlWatch(
  sim: SimulatedApiServer,
  args: string[],
): { output: () => string; stop: () => Promise<void> } {
  const child: ChildProcess = spawn("kubectl", [...baseArgs(sim), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const closed = new Promise<void>(resolve => child.on("close", () => resolve()));
  return {
    output: () => out,
    stop: async () => {
      child.kill("SIGTERM");
      await closed;
    },
  };
}
