import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { K8s, kind } from "kubernetes-fluent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatedApiServer } from "../apiserver/server";
import { applyPodIndex, createRunningPod, startCluster } from "../support/cluster";
import { eventually } from "../support/module";

const DRAIN_MS = 1_000;
/** drain + src/shutdown.ts's DEFAULT_CLOSE_TIMEOUT_MS: the bound the process must exit within */
const BOUND_MS = DRAIN_MS + 5_000;
const POD_IP = "10.42.0.10";

type Outcome = { sentAt: number; doneAt: number; status?: number; error?: string; reused: boolean };

/**
 * The deployed entry point (pepr.ts, Pepr's own watcher start-up included) in a child process
 * against the simulated kube-apiserver, sent SIGTERM while lookups stream in on keep-alive
 * connections, as a rollout does.
 */
describe("SIGTERM on the running module (pepr.ts)", () => {
  let sim: SimulatedApiServer;
  let child: ChildProcess;
  let certs: string;
  let port = 0;
  const output: string[] = [];

  beforeAll(async () => {
    sim = await startCluster();
    await K8s(kind.Namespace).Create({ metadata: { name: "apps" } });
    await createRunningPod("apps", "web-1", POD_IP, { app: "web" });
    await applyPodIndex("web", { namespaces: ["apps"] });

    // Pepr's watcher serves its own /healthz over TLS (port 3000) with the certificate it is given
    certs = mkdtempSync(join(tmpdir(), "podindex-shutdown-"));
    const key = join(certs, "tls.key");
    const crt = join(certs, "tls.crt");
    const made = spawnSync("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", key, "-out", crt, "-subj", "/CN=localhost", "-days", "1"],
    ]);
    if (made.status !== 0) throw new Error(`openssl failed: ${made.error ?? made.stderr}`);

    child = spawn(process.execPath, ["--import", "tsx", "pepr.ts"], {
      cwd: resolve(__dirname, "../.."),
      env: {
        ...process.env,
        KUBECONFIG: sim.kubeconfigPath,
        PEPR_WATCH_MODE: "true",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        PODINDEX_DRAIN_SECONDS: String(DRAIN_MS / 1000),
        SSL_KEY_PATH: key,
        SSL_CERT_PATH: crt,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", line => {
        output.push(line);
        const address = /"address":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(line);
        if (address) port = Number(address[1]);
      });
    }
    await eventually(() => expect(port, output.join("\n")).toBeGreaterThan(0), 45_000);
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200), 20_000);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await sim?.close();
    if (certs) rmSync(certs, { recursive: true, force: true });
  });

  it("turns /readyz 503, keeps answering lookups through the drain, then closes and exits 0", async () => {
    // Pepr's server is up, so its SIGTERM handler (exit 143 as soon as that server closes) was installed
    await eventually(async () => expect(await peprHealthz()).toBe(200));

    await drainUnderLoad(child, port, output, POD_IP);
    // Pepr's own handler never ran
    expect(output.join("\n")).not.toContain("Received SIGTERM, closing server.");
  });
});

/** npm run demo does the same as the deployed module on SIGTERM (and on Ctrl-C, the same handler). */
describe("SIGTERM on npm run demo", () => {
  let child: ChildProcess;
  let port = 0;
  const output: string[] = [];

  beforeAll(async () => {
    child = spawn(process.execPath, ["--import", "tsx", "test/demo/main.ts"], {
      cwd: resolve(__dirname, "../.."),
      env: {
        ...process.env,
        PORT: "0",
        DEMO_API_PORT: "0",
        DEMO_CADDY_PORT: "0",
        PODINDEX_DRAIN_SECONDS: String(DRAIN_MS / 1000),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", line => {
        output.push(line);
        const address = /lookup server\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
        if (address) port = Number(address[1]);
      });
    }
    await eventually(() => expect(port, output.join("\n")).toBeGreaterThan(0), 45_000);
  });

  afterAll(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });

  it("turns /readyz 503, keeps answering lookups through the drain, then closes and exits 0", async () => {
    await drainUnderLoad(child, port, output, "10.42.0.10");
  });
});

/**
 * A rollout's SIGTERM while four clients send lookups back to back on keep-alive connections:
 * /readyz turns 503 at once, lookups are answered through the drain, and the process exits 0
 * within the bound, its port closed.
 */
async function drainUnderLoad(child: ChildProcess, port: number, output: string[], ip: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const get = (path: string) =>
    new Promise<Omit<Outcome, "doneAt"> & { doneAt: number }>(done => {
      const sentAt = Date.now();
      const req = request({ host: "127.0.0.1", port, path, agent }, res => {
        res.resume();
        res.on("end", () => done({ sentAt, doneAt: Date.now(), status: res.statusCode, reused: req.reusedSocket }));
      });
      req.on("error", err => done({ sentAt, doneAt: Date.now(), error: String(err), reused: req.reusedSocket }));
      req.end();
    });
  const exited = new Promise<{ code: number | null; at: number }>(done =>
    child.once("exit", code => done({ code, at: Date.now() })),
  );
  let running = true;
  void exited.then(() => (running = false));

  // four clients, each sending lookups back to back on its own keep-alive connection
  const lookups: Outcome[] = [];
  const clients = Array.from({ length: 4 }, async () => {
    while (running) lookups.push(await get(`/v1/pods/by-ip/${ip}`));
  });
  await eventually(() => expect(lookups.filter(l => l.status === 200).length).toBeGreaterThan(20));

  const signalledAt = Date.now();
  child.kill("SIGTERM");
  let notReadyAt = 0;
  await eventually(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "not ready", reason: "shutting down" });
      notReadyAt = Date.now();
    },
    DRAIN_MS / 2,
    20,
  );

  const { code, at } = await exited;
  await Promise.all(clients);
  expect(code, output.join("\n")).toBe(0);
  expect(at - signalledAt).toBeLessThan(BOUND_MS);
  expect(at - signalledAt).toBeGreaterThanOrEqual(DRAIN_MS);

  // every lookup that ended before the drain was over was answered, on reused connections
  const beforeDrainEnd = lookups.filter(l => l.doneAt < signalledAt + DRAIN_MS);
  expect(beforeDrainEnd.filter(l => l.status !== 200)).toEqual([]);
  expect(beforeDrainEnd.filter(l => l.reused).length).toBeGreaterThan(0);
  // and lookups kept being answered after /readyz had turned 503
  expect(lookups.filter(l => l.sentAt > notReadyAt && l.status === 200).length).toBeGreaterThan(10);

  await expect(canConnect(port)).resolves.toBe(false);
  agent.destroy();
}

function peprHealthz(): Promise<number | undefined> {
  return new Promise(done => {
    const req = httpsRequest({ host: "127.0.0.1", port: 3000, path: "/healthz", rejectUnauthorized: false }, res => {
      res.resume();
      done(res.statusCode);
    });
    req.on("error", () => done(undefined));
    req.end();
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise(done => {
    const socket = connect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.on("error", () => done(false));
  });
}
