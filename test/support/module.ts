import type { SimulatedApiServer } from "../apiserver/server";
import type { PodIndexApp, StartConfig } from "../../src/app";
import { TrustedProxies } from "../../src/forward-auth/client-ip";

/**
 * Pepr as the module's process imports it: in watch mode, with package.json's pepr.env (Pepr reads
 * PEPR_* when it is imported, so a test that needs Pepr's exports before startModule() takes them
 * from here, not from a static import).
 */
export async function importPepr(): Promise<typeof import("pepr")> {
  const pkg = (await import("../../package.json")).default;
  // what the deployed watcher gets from package.json's pepr.env
  for (const [key, value] of Object.entries(pkg.pepr.env as Record<string, string>)) process.env[key] ??= value;
  process.env.PEPR_WATCH_MODE = "true";
  process.env.LOG_LEVEL ??= "warn";
  return import("pepr");
}

/**
 * Runs the real Pepr module in this process, as the deployed watcher does (PEPR_WATCH_MODE),
 * without its TLS admission server (deferStart), and starts podindex's lookup server.
 * Pepr decides at import time whether watches register, so it is imported only here, after the
 * environment is set. Call startCluster() first so KUBECONFIG points at the simulator.
 */
export async function startModule(
  port = 0,
  statusIntervalMs = 200,
  trustedProxies = TrustedProxies.none(),
  more: Partial<StartConfig> = {},
): Promise<{ app: PodIndexApp; port: number; url: string }> {
  const pkg = (await import("../../package.json")).default;
  const { PeprModule } = await importPepr();
  const { PodIndexCapability, podIndexApp } = await import("../../capabilities/podindex");
  new PeprModule(pkg, [PodIndexCapability], { deferStart: true });
  const started = await podIndexApp.start({
    port,
    host: "127.0.0.1",
    resyncSeconds: 30,
    statusIntervalMs,
    trustedProxies,
    ...more,
  });
  return { app: podIndexApp, port: started.port, url: `http://127.0.0.1:${started.port}` };
}

/** Retry an assertion until it passes or the time is up (watch events arrive asynchronously). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise(r => setTimeout(r, everyMs));
    }
  }
}

/** How many watch requests Pepr's PodIndex bindings sent, from the simulator's nth request on. */
export function peprWatchRequests(sim: SimulatedApiServer, from = 0): number {
  return sim.requests.slice(from).filter(r => /^\/apis\/podindex\.dev\/v1alpha1\/podindexes\?.*watch=true/.test(r.path))
    .length;
}

/**
 * Wait until Pepr's PodIndex bindings (the Reconcile and the Watch of deletions) have opened their
 * watches since the simulator's nth request (each opens one per attempt). Pepr opens them only once
 * its PeprStore start-up is done, up to 3 s after the module starts; podindex's own PodIndex list
 * serves before that.
 */
export async function peprWatching(sim: SimulatedApiServer, from = 0, timeoutMs = 15_000): Promise<void> {
  // no vitest import here: `npm run demo` runs this file outside vitest
  await eventually(() => {
    const opened = peprWatchRequests(sim, from);
    if (opened < 2) throw new Error(`Pepr opened ${opened} of its 2 PodIndex watches`);
  }, timeoutMs);
}
