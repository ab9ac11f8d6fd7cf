import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { resolve } from "node:path";
import { freePort, startCaddy, type RunningCaddy } from "../support/caddy";

/**
 * The path forward auth protects, on this machine: a real Caddy running examples/Caddyfile
 * (unchanged; its {$VAR} placeholders filled from the environment) → podindex's forward-auth →
 * an upstream standing in for Fission's router, which answers with the identity headers it was
 * handed, so a caller sees what the function would see.
 */
export interface Gateway {
  /** Caddy's address, as clients call it */
  url: string;
  /** the environment examples/Caddyfile was run with */
  env: Record<string, string>;
  stop(): Promise<void>;
  /** for a process "exit" handler: Caddy must not outlive the demo */
  stopNow(): void;
}

/** The upstream's answer: the path it was asked for, then each X-Podindex-* header as "name: value". */
export function echoIdentity(url: string, headers: Record<string, string | string[] | undefined>): string {
  const identity = Object.entries(headers)
    .filter(([name]) => name.startsWith("x-podindex-"))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `  ${name}: ${String(value)}\n`);
  return `upstream reached: ${url}\nidentity podindex handed over:\n${identity.join("")}`;
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  return (server.address() as AddressInfo).port;
}

/** Caddy binds its port on every interface: refuse a taken one before Caddy fails less clearly. */
export async function ensureCaddyPortFree(port: number): Promise<void> {
  const probe = createTcpServer();
  await new Promise<void>((ok, fail) => {
    probe.once("error", err =>
      fail(
        new Error(
          `DEMO_CADDY_PORT ${port} is not free (${(err as Error).message}): set DEMO_CADDY_PORT to another port (0 picks one)`,
        ),
      ),
    );
    probe.listen(port, ok);
  });
  await new Promise(done => probe.close(done));
}

/** Start the upstream and Caddy (on `port`, 0: a free one) in front of podindex (listening at `podindex`, host:port). */
export async function startGateway(caddyBinary: string, podindex: string, port: number): Promise<Gateway> {
  const upstream = createServer((req, res) => {
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.end(echoIdentity(req.url ?? "", req.headers));
  });
  const upstreamPort = await listening(upstream);
  const closeUpstream = () => new Promise(done => upstream.close(done));
  let caddy: RunningCaddy;
  let env: Record<string, string>;
  try {
    const listen = port || (await freePort());
    env = {
      LISTEN: `127.0.0.1:${listen}`,
      PODINDEX: podindex,
      UPSTREAM: `127.0.0.1:${upstreamPort}`,
      CADDY_ADMIN: "off",
    };
    const caddyfile = readFileSync(resolve(__dirname, "../../examples/Caddyfile"), "utf8");
    caddy = await startCaddy(caddyBinary, () => caddyfile, { port: listen, env });
  } catch (err) {
    await closeUpstream();
    throw err;
  }
  return {
    url: `http://127.0.0.1:${caddy.port}`,
    env,
    stop: async () => {
      await caddy.stop();
      await closeUpstream();
    },
    stopNow: () => caddy.stopNow(),
  };
}
