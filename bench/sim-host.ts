/**
 * The bench's cluster, in a process of its own (so its heap and CPU are not the contenders'): the
 * simulated kube-apiserver with BENCH_PODS realistic pods, a tenth as many Services' EndpointSlices
 * and three PodIndexes. Driven by bench/main.ts over IPC (see SimCommand); it streams pod updates
 * at a given rate when asked.
 */
import { performance } from "node:perf_hooks";
import { encode } from "../test/apiserver/encode";
import type { KObject, SimulatedApiServer } from "../test/apiserver/server";
import { startCluster } from "../test/support/cluster";
import { makeSlice } from "../test/support/slices";
import { benchPod, namespacesFor, podIndexes, type SimCommand, type SimReady } from "./fleet";
import { RealisticPods, placeOf } from "./realistic-pod";

async function seed(pods: number): Promise<{ sim: SimulatedApiServer; ready: SimReady }> {
  const t0 = performance.now();
  const namespaces = namespacesFor(pods);
  const sim = await startCluster();
  for (let n = 0; n < namespaces; n++)
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: `team-${n}` } });
  for (const pi of podIndexes(namespaces)) sim.create(pi);
  // The simulator records field managers but not their fieldsV1, and sets a new pod's status to
  // Pending: pods are created small through its store (for speed), then their stored objects are
  // completed in place with what a real apiserver would hold (spec, status, managedFields).
  const factory = new RealisticPods();
  const full = new Map<string, KObject>();
  for (let i = 0; i < pods; i++) {
    const pod = factory.pod(i, placeOf(i, namespaces));
    const { name, namespace } = pod.metadata;
    full.set(`${namespace}/${name}`, pod);
    sim.create({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace } });
  }
  const podType = sim.store.type("", "v1", "pods")!;
  for (const stored of sim.store.listShared(podType)) {
    const { uid, resourceVersion, creationTimestamp } = stored.metadata;
    const pod = full.get(`${stored.metadata.namespace}/${stored.metadata.name}`)!;
    const [name, namespace, generateName, ...rest] = Object.entries(pod.metadata);
    stored.metadata = Object.fromEntries([
      name,
      namespace,
      generateName,
      ["uid", uid],
      ["resourceVersion", resourceVersion],
      ["creationTimestamp", creationTimestamp],
      ...rest,
    ]);
    stored.spec = pod.spec;
    stored.status = pod.status;
  }
  full.clear();
  // serialised now, as the simulator keeps each object's JSON: the first list (the reference's) is
  // then served as fast as the contenders' later ones
  for (const stored of sim.store.listShared(podType)) encode(stored);
  let slices = 0;
  for (let s = 0; s < pods / 10; s++) {
    const ns = s % namespaces;
    const members = Array.from({ length: 10 }, (_, k) => ns + namespaces * (10 * Math.floor(s / namespaces) + k))
      .filter(i => i < pods)
      .map((i, k) => ({ ip: benchPod(i, pods).ip, pod: benchPod(i, pods).name, ready: k !== 0 }));
    if (members.length === 0) continue;
    sim.create(makeSlice(`team-${ns}`, `svc-${s}`, `svc-${s}-abcde`, members));
    slices++;
  }
  const sample = sim.store.listShared(podType).filter((_, k) => k % Math.max(1, Math.floor(pods / 100)) === 0);
  const sizes = sample.map(p => JSON.stringify(p).length);
  const podBytes = {
    min: Math.min(...sizes),
    mean: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
    max: Math.max(...sizes),
  };
  const seedSeconds = (performance.now() - t0) / 1000;
  return {
    sim,
    ready: {
      type: "ready",
      url: sim.url,
      kubeconfigPath: sim.kubeconfigPath,
      pods,
      namespaces,
      slices,
      podBytes,
      seedSeconds,
    },
  };
}

/** Write a `bench-tick` label on `perSecond` random pods a second (in batches every 10 ms), as a busy cluster's controllers would. */
async function streamUpdates(sim: SimulatedApiServer, pods: number, perSecond: number, seconds: number) {
  const podType = sim.store.type("", "v1", "pods")!;
  const start = performance.now();
  let written = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond);
    for (; written < due; written++) {
      const i = Math.floor(Math.random() * pods);
      const { namespace, name } = benchPod(i, pods);
      sim.store.update(
        podType,
        namespace,
        name,
        cur => ({
          ...cur,
          metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, "bench-tick": String(written) } },
        }),
        { fieldManager: "bench", operation: "Update" },
      );
    }
    await new Promise(r => setTimeout(r, 10));
  }
  return { written, seconds: (performance.now() - start) / 1000 };
}

async function main(): Promise<void> {
  const pods = Number(process.env.BENCH_PODS);
  if (!(pods > 0)) throw new Error(`BENCH_PODS must be a positive number, got "${process.env.BENCH_PODS}"`);
  const { sim, ready } = await seed(pods);
  process.on("message", async (cmd: SimCommand) => {
    const reply = (result: unknown) => process.send!({ id: cmd.id, result });
    if (cmd.type === "updates") reply(await streamUpdates(sim, pods, cmd.perSecond, cmd.seconds));
    else if (cmd.type === "requestCount") reply(sim.requests.length);
    else if (cmd.type === "podListsSince") {
      const lists = sim.requests
        .slice(cmd.from)
        .filter(r => r.method === "GET" && /^\/api\/v1\/pods(\?|$)/.test(r.path));
      reply(lists.filter(r => !/[?&]watch=(true|1)/.test(r.path)).map(r => r.path));
    }
  });
  process.on("disconnect", () => void sim.close().then(() => process.exit(0)));
  process.send!(ready);
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
