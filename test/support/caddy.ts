import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Debian's caddy, or whatever `caddy` is on PATH; undefined when it is not installed. */
export function findCaddy(): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").concat("/usr/bin", "/usr/local/bin");
  return dirs.map(d => join(d, "caddy")).find(p => existsSync(p));
}

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>(resolve => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise(resolve => srv.close(resolve));
  return port;
}

async function waitForPort(port: number, proc: ChildProcess, log: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`caddy exited (${proc.exitCode}):\n${log()}`);
    const up = await new Promise<boolean>(resolve => {
      const sock = connect(port, "127.0.0.1", () => resolve(sock.end() !== undefined));
      sock.on("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`caddy did not listen on ${port}:\n${log()}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

export interface RunningCaddy {
  port: number;
  /** what caddy printed so far */
  log: () => string;
  stop: () => Promise<void>;
  /** SIGTERM without waiting, and remove its directory: for a process "exit" handler */
  stopNow: () => void;
}

/**
 * Runs a real Caddy with this Caddyfile (given the port it must listen on: `port`, or a free one),
 * its state kept in a temporary directory, `env` added to its environment (the Caddyfile's
 * {$VAR} placeholders). Resolves once the port accepts connections.
 */
export async function startCaddy(
  binary: string,
  caddyfile: (port: number) => string,
  opts: { port?: number; env?: Record<string, string> } = {},
): Promise<RunningCaddy> {
  const port = opts.port || (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "podindex-caddy-"));
  const config = join(dir, "Caddyfile");
  writeFileSync(config, caddyfile(port));
  let output = "";
  const proc = spawn(binary, ["run", "--config", config, "--adapter", "caddyfile"], {
    env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout!.on("data", d => (output += d));
  proc.stderr!.on("data", d => (output += d));
  const log = () => output;
  const stopNow = () => {
    if (proc.exitCode === null) proc.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, proc, log);
  } catch (err) {
    stopNow();
    throw err;
  }
  return {
    port,
    log,
    stopNow,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise(resolve => proc.once("exit", resolve));
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP GET from a chosen local address (a simulated pod's IP in 127.0.0.0/8), as `curl --interface` does. */
export function getFrom(localAddress: string, url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers, agent: false }, res => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", c => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
