import { Log, PeprModule } from "pepr";
import cfg from "./package.json";
import { PodIndexCapability, podIndexApp } from "./capabilities/podindex";
import { loadConfig } from "./src/config";

new PeprModule(cfg, [PodIndexCapability]);

// The lookup server and the pod feed run only where the watches run (the deployed watcher or
// `pepr dev`), never during `pepr build` or in an admission pod.
if (process.env.PEPR_WATCH_MODE === "true" || process.env.PEPR_MODE === "dev") {
  podIndexApp.start(loadConfig()).catch(err => {
    Log.error({ err }, "podindex failed to start");
    process.exit(1);
  });
}
