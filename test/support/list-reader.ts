/**
 * A PagedFeed of pods in its own process (run by paged-feed.spec.ts with `node --import tsx`),
 * against the simulator named by KUBECONFIG, so that the simulator sees its requests while it is
 * busy: it pages by PAGE_SIZE, and handing over each pod holds it for HOLD_MS (a slow consumer).
 * Once synced it sends the parent `{ delivered: [name, Date.now()][] }`, the time each pod was
 * handed over, and exits.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { PagedFeed, type Tracked } from "../../src/feed/paged-feed";

if (!process.send) throw new Error("run me as a child process (paged-feed.spec.ts does)");
const hold = Number(process.env.HOLD_MS);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const feed = new PagedFeed<Tracked>({ path: "/api/v1/pods", pageSize: Number(process.env.PAGE_SIZE), kubeConfig });
const delivered: [string, number][] = [];
void feed.start({
  onEvent: (_phase, pod) => {
    const until = Date.now() + hold;
    while (Date.now() < until); // busy, as a consumer parsing and indexing is
    delivered.push([pod.metadata?.name ?? "", Date.now()]);
  },
  onSynced: () => {
    feed.stop();
    process.send!({ delivered }, () => process.exit(0));
  },
  onError: err => {
    console.error(err);
    process.exit(1);
  },
});
