/**
 * The podindex module as the bench runs it: the real Pepr module in watch mode (as
 * test/support/module.ts starts it for the integration tests) with the configuration the
 * environment gives (PORT, PODINDEX_*, and PODINDEX_SOURCE for the pod and slice source), against
 * the cluster KUBECONFIG names. Started by bench/main.ts as a child process, so its RSS is its own.
 */
import { loadConfig } from "../src/config";
import { startModule } from "../test/support/module";
import { serveBench } from "./child";

async function main(): Promise<void> {
  const config = loadConfig();
  const { port } = await startModule(config.port, config.statusIntervalMs, config.trustedProxies, config);
  serveBench(port);
}

main().catch(err => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
