/**
 * One podindex replica in its own process, for tests that run several against one simulated
 * apiserver (KUBECONFIG): the real Pepr module (as startModule runs it) with the configuration
 * from the environment, its Lease included. Prints `{"replica":{"port":N}}` once listening.
 */
import { loadConfig } from "../../src/config";
import { startModule } from "./module";

const config = loadConfig();
startModule(config.port, config.statusIntervalMs, config.trustedProxies, { lease: config.lease })
  .then(({ port }) => console.log(JSON.stringify({ replica: { port, identity: config.lease.identity } })))
  .catch(err => {
    console.error(err);
    process.exit(1);
  });
