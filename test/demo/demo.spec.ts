import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findCaddy } from "../support/caddy";
import { eventually } from "../support/module";

const ROOT = resolve(__dirname, "../..");
const caddy = findCaddy();
if (!caddy) {
  const msg = "caddy is not installed: the demo's path through Caddy cannot be tested (apt-get install caddy)";
  if (process.env.CI) throw new Error(`${msg}; CI must test it`);
  console.warn(`SKIPPED: ${msg}`);
}

/** A demo as a user starts it, with its own TMPDIR (to see what it leaves behind) and free ports. */
class Demo {
  readonly tmp = mkdtempSync(join(tmpdir(), "podindex-demo-spec-"));
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** every line the demo's processes printed has been read: all of them closed its output */
  readonly outputClosed: Promise<unknown>;

  constructor(command: string[], env: Record<string, string> = {}) {
    this.child = spawn(command[0], command.slice(1), {
      cwd: ROOT,
      env: {
        ...process.env,
        TMPDIR: this.tmp,
        PORT: "0",
        DEMO_API_PORT: "0",
        DEMO_CADDY_PORT: "0",
        PODINDEX_DRAIN_SECONDS: "0",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
      // its own process group, so that cleanup can reach whatever npm started
      detached: true,
    });
    this.exited = new Promise(done => this.child.once("exit", code => done(code)));
    const readers = [this.child.stdout!, this.child.stderr!].map(input =>
      createInterface({ input }).on("line", line => this.lines.push(line)),
    );
    this.outputClosed = Promise.all(readers.map(r => new Promise(closed => r.once("close", closed))));
  }

  get output(): string {
    return this.lines.join("\n");
  }

  async running(): Promise<void> {
    // generous: on a loaded machine the Kubernetes clients alone take many seconds to load
    await eventually(() => expect(this.output).toContain("Ctrl-C stops everything"), 120_000, 100);
  }

  url(label: RegExp): string {
    const found = this.lines.map(l => label.exec(l)?.[1]).find(Boolean);
    if (!found) throw new Error(`no ${label} in:\n${this.output}`);
    return found;
  }

  /** what the demo left in its TMPDIR (tsx's own cache aside) */
  leftovers(): string[] {
    return readdirSync(this.tmp).filter(name => name.startsWith("podindex-"));
  }

  cleanup(): void {
    try {
      if (this.child.pid) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

interface PrintedCall {
  comment: string;
  args: string[];
  status: number;
  contains: string[];
}

/** The demo's "curl --interface" lines, each with the answer it says to expect on the next line. */
function printedCalls(lines: string[]): PrintedCall[] {
  const calls: PrintedCall[] = [];
  lines.forEach((line, i) => {
    if (!/^\s*curl .*--interface /.test(line)) return;
    const expected = /^\s*→ (\d{3})\b(.*)$/.exec(lines[i + 1] ?? "");
    if (!expected) throw new Error(`no "→ <status>" after: ${line}`);
    // shell words: 'quoted' or bare (the demo quotes nothing else)
    const args = [...line.trim().matchAll(/'([^']*)'|(\S+)/g)].map(m => m[1] ?? m[2]);
    calls.push({
      comment: lines[i - 1].trim().replace(/^# /, ""),
      args,
      status: Number(expected[1]),
      contains: [...expected[2].matchAll(/`([^`]+)`/g)].map(m => m[1]),
    });
  });
  return calls;
}

async function run(call: PrintedCall): Promise<{ status: number; output: string }> {
  expect(call.args[0]).toBe("curl");
  const { stdout } = await promisify(execFile)("curl", call.args.slice(1), { timeout: 10_000 });
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(stdout)?.[1]), output: stdout };
}

/** Run each printed call; the answer is the one printed: status, every `quoted` part, no forged header value. */
async function expectAnswersAsPrinted(calls: PrintedCall[]): Promise<void> {
  for (const call of calls) {
    const { status, output } = await run(call);
    const what = `${call.comment}\n${call.args.join(" ")}\n${output}`;
    expect(status, what).toBe(call.status);
    for (const part of call.contains) expect(output, what).toContain(part);
    if (status !== 200) expect(output, what).not.toContain("upstream reached");
    const forged = call.args.flatMap(a => /^X-Podindex-[\w-]+:\s*(.+)$/i.exec(a)?.[1] ?? []);
    for (const value of forged) expect(output, what).not.toContain(value);
  }
}

function canConnect(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise(done => {
    const socket = connect(Number(port), hostname);
    socket.on("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.on("error", () => done(false));
  });
}

const main = (env: Record<string, string> = {}) =>
  new Demo([process.execPath, "--import", "tsx", "test/demo/main.ts"], env);

async function takenPort(): Promise<{ port: string; free: () => void }> {
  const srv = createServer();
  await new Promise<void>(r => srv.listen(0, r));
  return { port: String((srv.address() as AddressInfo).port), free: () => srv.close() };
}

/** A demo that must refuse to start: exit 1 with this message, nothing left behind. */
async function expectRefused(demo: Demo, message: string | RegExp): Promise<void> {
  expect(await demo.exited, demo.output).toBe(1);
  expect(demo.output).toMatch(message);
  expect(demo.leftovers()).toEqual([]);
}

// The demos that start a cluster take a while (the Kubernetes clients alone load for seconds):
// they all start at once, and each test waits for its own.
let withCaddy: Demo | undefined;
let withoutCaddy: Demo;
let lookupPortTaken: { demo: Demo; port: string; free: () => void };
beforeAll(async () => {
  if (caddy) withCaddy = new Demo(["npm", "run", "demo"]);
  withoutCaddy = main({ DEMO_CADDY: "none" });
  const taken = await takenPort();
  lookupPortTaken = { ...taken, demo: main({ PORT: taken.port }) };
});
afterAll(() => {
  for (const demo of [withCaddy, withoutCaddy, lookupPortTaken?.demo]) demo?.cleanup();
  lookupPortTaken?.free();
});

describe.skipIf(!caddy)("npm run demo, followed as it says", () => {
  let demo: Demo;
  let calls: PrintedCall[];
  let lookup: string;
  let gateway: string;

  beforeAll(async () => {
    demo = withCaddy!;
    await demo.running();
    calls = printedCalls(demo.lines);
    lookup = demo.url(/lookup server\s+(http:\S+)/);
    gateway = demo.url(/Through a real Caddy \((http:[^)]+)\)/);
  }, 150_000);

  it("prints an allowed, a denied, a spoofed X-Forwarded-For and a forged identity call through Caddy", () => {
    const through = calls.filter(c => c.args.some(a => a.startsWith(gateway)));
    expect(through.map(c => c.comment.split(":")[0])).toEqual([
      "allowed",
      "denied",
      "a spoofed X-Forwarded-For",
      "forged identity headers",
    ]);
    expect(calls.length).toBeGreaterThan(through.length);
    expect(demo.output).toContain("PODINDEX_TRUSTED_PROXIES=127.0.0.1, set by the demo");
  });

  it("answers each printed curl line (run as printed, from the pod's address) as it says it will", async () => {
    await expectAnswersAsPrinted(calls);
  });

  it("stops when npm alone gets SIGTERM, leaving no kubeconfig directory and no Caddy behind", async () => {
    expect(await canConnect(lookup)).toBe(true);
    demo.child.kill("SIGTERM");
    await demo.exited;
    await eventually(async () => {
      expect(await canConnect(lookup)).toBe(false);
      expect(await canConnect(gateway)).toBe(false);
      expect(demo.leftovers()).toEqual([]);
    }, 15_000);
    // npm is gone, but the demo's own processes held its output until they exited: read all of it
    await demo.outputClosed;
    expect(demo.output).toMatch(/which started this demo, exited: stopping/);
    expect(demo.output).toContain("podindex stopped");
  });
});

describe("npm run demo without Caddy", () => {
  beforeAll(() => withoutCaddy.running(), 150_000);

  it("says how to get Caddy, and the rest answers as printed", async () => {
    expect(withoutCaddy.output).toContain("apt-get install caddy");
    expect(withoutCaddy.output).not.toContain("Through a real Caddy");
    const calls = printedCalls(withoutCaddy.lines);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    await expectAnswersAsPrinted(calls);
  });

  it("exits 0 on SIGTERM and removes its kubeconfig directory", async () => {
    withoutCaddy.child.kill("SIGTERM");
    expect(await withoutCaddy.exited).toBe(0);
    expect(withoutCaddy.leftovers()).toEqual([]);
  });
});

describe("npm run demo refuses what it cannot run", () => {
  it.concurrent("an invalid PODINDEX_TRUSTED_PROXIES, with the module's own message", async () => {
    const demo = main({ PODINDEX_TRUSTED_PROXIES: "10.0.0.0/33" });
    await expectRefused(demo, 'demo failed: PODINDEX_TRUSTED_PROXIES: "10.0.0.0/33" has an invalid prefix length');
    demo.cleanup();
  });

  it.concurrent("an invalid PODINDEX_STATUS_INTERVAL_MS", async () => {
    const demo = main({ PODINDEX_STATUS_INTERVAL_MS: "soon" });
    await expectRefused(demo, 'PODINDEX_STATUS_INTERVAL_MS must be a whole number, got "soon"');
    demo.cleanup();
  });

  it.skipIf(!caddy).concurrent("a Caddy port in use, naming the variable to change", async () => {
    const { port, free } = await takenPort();
    const demo = main({ DEMO_CADDY_PORT: port });
    await expectRefused(demo, `demo failed: DEMO_CADDY_PORT ${port} is not free`);
    demo.cleanup();
    free();
  });

  it("a lookup port in use, found once the cluster runs: its kubeconfig directory is removed", async () => {
    const { demo } = lookupPortTaken;
    await expectRefused(demo, /demo failed: .*EADDRINUSE/);
  }, 150_000);
});
