// Starts the podindex module inside Pepr's controller image without writing to the filesystem.
// Pepr's own entry point (node_modules/pepr/dist/controller.js) unzips the module to
// /app/module-<hash>.js and forks it, which a read-only root filesystem forbids, and it applies
// the PeprStore CRD itself, which needs RBAC on CustomResourceDefinitions. This does the same
// check (the unzipped module's SHA-256 must be the hash the Deployment names), then runs the
// module in this process as if it were /app/module-<hash>.js, so `require("pepr")` resolves from
// /app/node_modules. The PeprStore CRD ships with the manifests instead. Shipped in a ConfigMap
// by scripts/manifests.mjs; PODINDEX_APP_DIR (default /app) exists for the test.
"use strict";
const { createHash, timingSafeEqual } = require("node:crypto");
const { readFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const path = require("node:path");
const { compileFunction } = require("node:vm");
const { gunzipSync } = require("node:zlib");

const hash = process.argv[2] ?? "";
const appDir = process.env.PODINDEX_APP_DIR || "/app";
if (!/^[a-f0-9]{64}$/.test(hash)) {
  console.error(`podindex launcher: expected the module's SHA-256 (64 hex digits) as argument, got "${hash}"`);
  process.exit(1);
}
const gz = path.join(appDir, "load", `module-${hash}.js.gz`);
const code = gunzipSync(readFileSync(gz));
if (!timingSafeEqual(createHash("sha256").update(code).digest(), Buffer.from(hash, "hex"))) {
  console.error(`podindex launcher: ${gz} does not match its hash; refusing to run it`);
  process.exit(1);
}
const filename = path.join(appDir, `module-${hash}.js`);
const module_ = { exports: {} };
const params = ["exports", "require", "module", "__filename", "__dirname"];
compileFunction(code.toString("utf8"), params, { filename })(
  module_.exports,
  createRequire(filename),
  module_,
  filename,
  appDir,
);
