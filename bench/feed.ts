/**
 * npm run bench (second part): the watch path. Seeds the simulated apiserver with BENCH_FEED_PODS
 * pods (default 30 000, ~3 KB of JSON each) and times podindex's pod feed from start to
 * "initial list applied", with the heap it holds afterwards. Prints figures; asserts nothing.
 */
import { performance } from "node:perf_hooks";
import { PodCache } from "../src/cache/pod-cache";
import type { PodLike } from "../src/cache/pod-record";
import type { ObjectFeed } from "../src/feed/object-feed";
import { startApiServer } from "../test/apiserver/server";
import { makePod } from "../test/support/pods";

const PODS = Number(process.env.BENCH_FEED_PODS ?? 30_000);
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function main(): Promise<void> {
  const sim = await startApiServer();
  process.env.KUBECONFIG = sim.kubeconfigPath;
  process.env.LOG_LEVEL = "warn";
  for (let n = 0; n < 100; n++) sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: `team-${n}` } });
  let bytes = 0;
  for (let i = 0; i < PODS; i++) {
    const pod = makePod({
      name: `app-${i % 97}-7d9f8b6c5d-${i.toString(36)}`,
      namespace: `team-${i % 100}`,
      labels: { app: `app-${i % 97}`, "pod-template-hash": "7d9f8b6c5d", "app.kubernetes.io/part-of": "bench" },
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(1500) },
      ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
    });
    const obj = {
      apiVersion: "v1",
      kind: "Pod",
      ...pod,
      spec: {
        ...pod.spec,
        containers: [
          {
            name: "main",
            image: "ghcr.io/example/app:1.2.3",
            env: Array.from({ length: 12 }, (_, k) => ({ name: `SETTING_${k}`, value: `value-${k}-${i}` })),
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
          },
        ],
      },
    };
    if (i === 0) bytes = JSON.stringify(obj).length;
    sim.create(obj);
  }
  console.log(`pods in the simulated apiserver             ${PODS} (~${(bytes / 1024).toFixed(1)} KB of JSON each)`);

  const { podFeed } = await import("../src/feed/paged-feed");
  await measure(podFeed());
  await sim.close();
  process.exit(0);
}

async function measure(feed: ObjectFeed<PodLike>): Promise<void> {
  const cache = new PodCache();
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    feed
      .start({
        onEvent: (phase, pod) => (phase === "DELETED" ? cache.remove(pod) : cache.upsert(pod)),
        onSynced: resolve,
        onError: reject,
      })
      .catch(reject);
  });
  const ms = performance.now() - t0;
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  console.log(
    `pod feed (paged list + watch) to synced`.padEnd(45) + `${(ms / 1000).toFixed(1)} s (${cache.size} pods cached)`,
  );
  console.log(`heap held after sync (feed and cache)`.padEnd(45) + mb(heap1 - heap0));
  feed.stop();
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
