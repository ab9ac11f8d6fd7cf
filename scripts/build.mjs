// npm run build: a clean dist/ with deployable manifests, failing on any type error.
// `pepr build` alone exits 0 when tsc fails and never cleans dist/, so this wraps it.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";

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

const manifests = existsSync("dist") ? readdirSync("dist").filter(f => /^pepr-module-.*\.yaml$/.test(f)) : [];
if (manifests.length === 0) {
  console.error("build failed: pepr build wrote no pepr-module-*.yaml to dist/");
  process.exit(1);
}
// Pepr gives the watcher 5 s to stop; podindex drains for PODINDEX_DRAIN_SECONDS (10) and then has
// 5 s to close, so the kubelet must wait longer than that before it kills the pod.
const file = `dist/${manifests[0]}`;
writeFileSync(
  file,
  readFileSync(file, "utf8").replaceAll("terminationGracePeriodSeconds: 5", "terminationGracePeriodSeconds: 20"),
);
cpSync("crds", "dist/crds", { recursive: true });
console.log(`built: ${["dist/" + manifests[0], "dist/crds/"].join(", ")}`);
