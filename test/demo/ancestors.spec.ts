import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { eventually } from "../support/module";

/** A process started through `sh -c` (as npm starts a script) that reports when its starter is gone. */
const WATCHER = `
const { watchAncestors } = require("./test/demo/ancestors");
watchAncestors((who) => { console.log("gone " + who.pid + " " + who.command); process.exit(0); }, 50);
console.log("watching");
setInterval(() => {}, 1000);
`;

describe.skipIf(process.platform !== "linux")("watchAncestors", () => {
  it("reports the shell that started this process once it is killed, and only then", async () => {
    const sh = spawn("sh", ["-c", `${process.execPath} --import tsx -e '${WATCHER}'; true`], {
      cwd: resolve(__dirname, "../.."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines: string[] = [];
    createInterface({ input: sh.stdout! }).on("line", l => lines.push(l));
    const shExited = new Promise(done => sh.once("exit", done));
    await eventually(() => expect(lines).toContain("watching"), 20_000);
    // the watcher polls every 50 ms: while its starter lives, it reports nothing
    await new Promise(r => setTimeout(r, 300));
    expect(lines).toEqual(["watching"]);

    sh.kill("SIGKILL");
    await shExited;
    await eventually(() => expect(lines.at(-1)).toMatch(new RegExp(`^gone ${sh.pid} sh -c `)));
  });
});
