// npm run build: a clean dist/ with deployable manifests, failing on any type error.
// `pepr build` alone exits 0 when tsc fails and never cleans dist/, so this wraps it.
import { spawnSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" } });
  process.stdout.write(r.stdout ?? "");
  process.stderr.write(r.stderr ?? "");
  return { code: r.status ?? 1, output: `${r.stdout}\n${r.stderr}` };
};

rmSync("dist", { recursive: true, force: true });

const tsc = run("npx", ["--no-install", "tsc", "--noEmit"]);
if (tsc.code !== 0) {
  console.error("build failed: type errors (see above)");
  process.exit(1);
}

const pepr = run("npx", ["--no-install", "pepr", "build"]);
if (pepr.code !== 0 || /error TS\d+|Error:|ERROR/.test(pepr.output)) {
  console.error("build failed: pepr build reported errors (see above)");
  process.exit(1);
}

// The stock Pepr watcher becomes podindex's deployment (scripts/postbuild.ts).
cpSync("crds", "dist/crds", { recursive: true });
const post = run("npx", ["--no-install", "tsx", "scripts/postbuild.ts", "dist"]);
if (post.code !== 0) {
  console.error("build failed: could not make podindex's manifests from pepr build's (see above)");
  process.exit(1);
}
