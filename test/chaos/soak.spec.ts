import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startApiServer, type KObject, type SimulatedApiServer } from "../apiserver/server";
import type { StoredEvent, WriteOptions } from "../apiserver/store";
import type { HeapReport, SyncRequest } from "./soak-feed";

/**
 * Memory stays flat under churn: EVENTS watch events (CHAOS_SOAK_EVENTS; `npm run chaos` pushes a
 * million) from the simulator through the real feeds and caches, which run in a child process
 * (soak-feed.ts) so that its heap, measured after a full GC, is theirs alone. The churn keeps the
 * population fixed (pods change IPs, labels and phase, some are deleted and created again under a
 * new UID, slices change endpoints) and cuts every watch and compacts now and then, so reconnects
 * and relists are part of it.
 */
const EVENTS = Number(process.env.CHAOS_SOAK_EVENTS ?? 20_000);
const PODS = 2000;
const SLICES = 200;
const BATCH = 2000;
/** where the first measurement is taken (fraction of the events): after two cuts and a compaction */
const BASELINE = 0.4;
/** heap growth allowed from the first measurement to the last */
const MARGIN_MB = Number(process.env.CHAOS_SOAK_MARGIN_MB ?? 4);
const MB = 1024 * 1024;

const W: WriteOptions = { fieldManager: "soak", operation: "Update" };
const STATUS: WriteOptions = { ...W, subresource: "status" };

const ipOf = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const pod = (i: number, gen: number): KObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: `p${i}-${gen}`, namespace: `ns${i % 10}`, labels: { app: `a${i % 7}` } },
  spec: { nodeName: `node-${i % 20}`, containers: [{ name: "c", image: "nginx" }] },
});
const slice = (j: number, endpoints: KObject[]): KObject => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `svc${j}-x`, namespace: `ns${j % 10}`, labels: { "kubernetes.io/service-name": `svc${j}` } },
  addressType: "IPv4",
  endpoints,
  ports: [{ name: "http", port: 80, protocol: "TCP" }],
});

/** Churn through the store itself (as fast as a cluster of controllers), in batches the child keeps up with. */
async function soak(sim: SimulatedApiServer, child: ChildProcess, events: number) {
  const podType = sim.store.typeOf("v1", "Pod")!;
  const sliceType = sim.store.typeOf("discovery.k8s.io/v1", "EndpointSlice")!;
  const last = { pods: "0", slices: "0" };
  let count = 0;
  sim.store.subscribe((ev: StoredEvent) => {
    count++;
    // what the child must have delivered: the newest state written (a relist reports a deletion with an older version)
    if (ev.type !== "DELETED") last[ev.resource.endsWith("/pods") ? "pods" : "slices"] = String(ev.rv);
  });
  const reports: { at: number; report: HeapReport }[] = [];
  const sync = () =>
    new Promise<HeapReport>(resolve => {
      child.once("message", m => resolve(m as HeapReport));
      const sizes = {
        podCount: sim.store.listShared(podType).length,
        sliceCount: sim.store.listShared(sliceType).length,
      };
      child.send({ sync: { ...last, ...sizes } } satisfies SyncRequest);
    });
  const gens = Array.from({ length: PODS }, () => 0);
  const live = (i: number) => sim.store.get(podType, `ns${i % 10}`, `p${i}-${gens[i]}`);
  let seq = 0;
  for (let n = 0; n < 10; n++) sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: `ns${n}` } });
  for (let i = 0; i < PODS; i++) sim.create(pod(i, 0));
  for (let j = 0; j < SLICES; j++) sim.create(slice(j, []));
  const cutEvery = Math.ceil(events / 8);
  let cuts = 0;
  let nextCut = cutEvery;
  while (count < events) {
    for (let b = 0; b < BATCH && count < events; b++) {
      const r = (seq++ * 2654435761) >>> 0; // a fixed, well-spread sequence: the same churn every run
      const i = r % PODS;
      const p = live(i)!;
      const { name, namespace } = p.metadata;
      switch (r % 50 === 0 ? 0 : 1 + (r % 9)) {
        case 0: // deleted at once and created again: a new UID under a new name (2 %: the cache remembers deleted UIDs, up to 100 000)
          sim.store.delete(podType, namespace, name, 0);
          gens[i]++;
          sim.create(pod(i, gens[i]));
          break;
        case 1:
        case 4:
          sim.store.update(
            podType,
            namespace,
            name,
            o => ({ ...o, metadata: { ...o.metadata, labels: { app: `a${r % 7}` } } }),
            W,
          );
          break;
        case 2:
        case 3: {
          const j = r % SLICES;
          const eps = Array.from({ length: 1 + (r % 5) }, (_, k) => {
            const q = live((j + k * SLICES) % PODS)!;
            return {
              addresses: [ipOf(r + k)],
              conditions: { ready: (r + k) % 3 !== 0 },
              targetRef: { kind: "Pod", name: q.metadata.name, namespace: q.metadata.namespace, uid: q.metadata.uid },
            };
          });
          sim.store.update(sliceType, `ns${j % 10}`, `svc${j}-x`, o => ({ ...o, endpoints: eps }), W);
          break;
        }
        default: {
          const phase = r % 50 === 4 ? "Succeeded" : "Running";
          sim.store.update(
            podType,
            namespace,
            name,
            o => ({ ...o, status: { phase, podIP: ipOf(r), podIPs: [{ ip: ipOf(r) }] } }),
            STATUS,
          );
        }
      }
    }
    if (count >= nextCut) {
      nextCut += cutEvery;
      if (cuts++ % 2) sim.compact(); // the feeds' next resume is a 410: a full relist of 2000 pods
      sim.dropWatches();
    }
    const report = await sync();
    if (EVENTS >= 200_000 && Math.floor(count / (EVENTS / 10)) > Math.floor((count - BATCH) / (EVENTS / 10)))
      console.log(`soak: ${count} events, heap ${(report.heapUsed / MB).toFixed(1)} MB`);
    // the first measurement once every path (resume, relist after a compaction) has run at least once
    if (reports.length === 0 ? count >= events * BASELINE : count >= events) reports.push({ at: count, report });
  }
  return reports;
}

describe("chaos soak: memory under a long churn", () => {
  it(
    `holds its heap flat over ${EVENTS} watch events (after GC, within ${MARGIN_MB} MB from ${BASELINE * 100} % to the end)`,
    async () => {
      const sim = await startApiServer({ historyLimit: 5000, bookmarkIntervalMs: 1000 });
      const child = fork(join(__dirname, "soak-feed.ts"), [], {
        execArgv: ["--expose-gc", "--import", "tsx"],
        env: { ...process.env, KUBECONFIG: sim.kubeconfigPath },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const started = Date.now();
      try {
        const [first, end] = await soak(sim, child, EVENTS);
        const s = (Date.now() - started) / 1000;
        const mb = (n: number) => (n / MB).toFixed(1);
        console.log(
          `soak: ${end.report.events} events in ${s.toFixed(1)} s, heap ${mb(first.report.heapUsed)} MB at ${first.at} → ` +
            `${mb(end.report.heapUsed)} MB at ${end.at} (${end.report.pods} pods, ${end.report.slices} slices, ` +
            `${end.report.failures} feed failures)`,
        );
        expect(end.report.pods).toBe(PODS);
        expect(end.report.slices).toBe(SLICES);
        expect((end.report.heapUsed - first.report.heapUsed) / MB).toBeLessThan(MARGIN_MB);
      } finally {
        child.send("stop");
        await sim.close();
      }
    },
    Math.max(60_000, EVENTS * 5), // this machine writes and delivers ~1000 events/s under load
  );
});
