import { Log, PeprModule } from "pepr";
import cfg from "./package.json";
import { PodIndexCapability, podIndexApp } from "./capabilities/podindex";
import { loadConfig } from "./src/config";
import { installShutdown, listenersAddedBy } from "./src/shutdown";

// Pepr's SIGTERM handler exits at once; podindex's (src/shutdown.ts) drains first and replaces it.
const peprSigterm = listenersAddedBy("SIGTERM", () => new PeprModule(cfg, [PodIndexCapability]));

// The lookup server and the pod feed run only where the watches run (the deployed watcher or
// `pepr dev`), never during `pepr build` or in an admission pod.
if (process.env.PEPR_WATCH_MODE === "true" || process.env.PEPR_MODE === "dev") {
  const config = loadConfig();
  const [drainMs, stop] = [config.drainSeconds * 1000, () => podIndexApp.stop()];
  const { readiness } = podIndexApp;
  installShutdown({ readiness, drainMs, stop, log: Log, signals: ["SIGTERM"], replacing: peprSigterm });
  podIndexApp.start(config).catch(err => {
    Log.error({ err }, "podindex failed to start");
    process.exit(1);
  });
}
