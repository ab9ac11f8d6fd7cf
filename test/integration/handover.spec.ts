import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PodIndex } from "../../src/kinds/podindex";
import type { SimulatedApiServer } from "../apiserver/server";
import { applyPodIndex, createRunningPod, startCluster } from "../support/cluster";
import { eventually } from "../support/module";

const LEASE = { durationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 };

interface Replica {
  name: string;
  child: ChildProcess;
  port: number;
  identity: string;
  output: string[];
}

function startReplica(sim: SimulatedApiServer, name: string): Promise<Replica> {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/replica.ts"], {
    cwd: resolve(__dirname, "../.."),
    env: {
      ...process.env,
      KUBECONFIG: sim.kubeconfigPath,
      PORT: "0",
      HOST: "127.0.0.1",
      POD_NAME: name,
      POD_NAMESPACE: "pepr-system",
      LOG_LEVEL: "warn",
      PODINDEX_STATUS_INTERVAL_MS: "200",
      PODINDEX_LEASE_DURATION_SECONDS: String(LEASE.durationSeconds),
      PODINDEX_LEASE_RENEW_DEADLINE_SECONDS: String(LEASE.renewDeadlineSeconds),
      PODINDEX_LEASE_RETRY_PERIOD_SECONDS: String(LEASE.retryPeriodSeconds),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  return new Promise((done, fail) => {
    child.once("exit", code => fail(new Error(`replica ${name} exited ${code}:\n${output.join("\n")}`)));
    for (const stream of [child.stdout!, child.stderr!])
      createInterface({ input: stream }).on("line", line => {
        output.push(line);
        const started = /^\{"replica":(.*)\}$/.exec(line);
        if (started) done({ name, child, output, ...(JSON.parse(started[1]) as { port: number; identity: string }) });
      });
  });
}

/** A gauge or the sum of a counter's series, as /metrics shows it. */
async function metric(r: Replica, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].map(m => Number(m[1]));
  return values.reduce((a, b) => a + b, 0);
}

const holder = async (sim: SimulatedApiServer) =>
  (
    (await (
      await fetch(`${sim.url}/apis/coordination.k8s.io/v1/namespaces/pepr-system/leases/podindex-leader`)
    ).json()) as {
      spec?: { holderIdentity?: string };
    }
  ).spec?.holderIdentity;

const servedPods = async () => (await K8s(PodIndex).Get("web")).status?.pods;

/**
 * Two replicas of the module (each its own process, as two pods) against one apiserver: both
 * answer lookups, the Lease's holder alone writes status, and when it dies without releasing the
 * Lease (SIGKILL, a node lost) the other takes over within the lease duration while lookups on it
 * never fail.
 */
describe("two replicas, one Lease", () => {
  let sim: SimulatedApiServer;
  let replicas: Replica[] = [];

  beforeAll(async () => {
    sim = await startCluster();
    await K8s(kind.Namespace).Create({ metadata: { name: "apps" } });
    await createRunningPod("apps", "web-1", "10.42.0.10", { app: "web" });
    await applyPodIndex("web", { namespaces: ["apps"] });
    replicas = await Promise.all([startReplica(sim, "replica-a"), startReplica(sim, "replica-b")]);
    for (const r of replicas)
      await eventually(async () => expect((await fetch(`http://127.0.0.1:${r.port}/readyz`)).status).toBe(200), 30_000);
  }, 90_000);

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    await sim?.close();
  });

  it("lets only the holder write; a killed holder is replaced within the lease duration, and no lookup fails", async () => {
    // one of them holds the Lease, says so in podindex_leader, and is the only one writing status
    const leaderIdentity = await eventually(async () => {
      const h = await holder(sim);
      expect(replicas.map(r => r.identity)).toContain(h);
      return h;
    });
    const leader = replicas.find(r => r.identity === leaderIdentity)!;
    const follower = replicas.find(r => r !== leader)!;
    await eventually(async () => expect(await servedPods()).toBe(1));
    await eventually(async () => expect(await metric(leader, "podindex_status_writes_total")).toBeGreaterThan(0));
    expect(await metric(leader, "podindex_leader")).toBe(1);
    expect(await metric(follower, "podindex_leader")).toBe(0);
    expect(await metric(follower, "podindex_status_writes_total")).toBe(0);

    // four clients look the pod up on the follower, back to back on keep-alive connections
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const lookup = () =>
      new Promise<number | string>(done => {
        const req = request(
          { host: "127.0.0.1", port: follower.port, path: "/v1/pods/by-ip/10.42.0.10", agent },
          res => {
            res.resume();
            res.on("end", () => done(res.statusCode!));
          },
        );
        req.on("error", err => done(String(err)));
        req.end();
      });
    const answers: (number | string)[] = [];
    let running = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (running) answers.push(await lookup());
    });

    const killedAt = Date.now();
    leader.child.kill("SIGKILL");
    await createRunningPod("apps", "web-2", "10.42.0.11", { app: "web" });

    // the follower takes the Lease over once it expired, and writes the status the change needs
    const bound = (LEASE.durationSeconds + LEASE.retryPeriodSeconds) * 1000;
    await eventually(async () => expect(await holder(sim)).toBe(follower.identity), bound + 5_000, 100);
    const tookOverMs = Date.now() - killedAt;
    await eventually(async () => expect(await servedPods()).toBe(2), 5_000);
    expect(await metric(follower, "podindex_leader")).toBe(1);
    expect(await metric(follower, "podindex_status_writes_total")).toBeGreaterThan(0);

    running = false;
    await Promise.all(clients);
    agent.destroy();
    expect(answers.length).toBeGreaterThan(50);
    expect(answers.filter(a => a !== 200)).toEqual([]);
    // not before the lease could have expired, and within its duration plus one attempt (and the
    // time a loaded machine needs to notice)
    expect(tookOverMs).toBeGreaterThan(LEASE.durationSeconds * 1000 - 1_000);
    expect(tookOverMs).toBeLessThan(bound + 2_000);
  });
});
