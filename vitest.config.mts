import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.spec.ts", "capabilities/**/*.spec.ts", "test/**/*.spec.ts", "bench/**/*.spec.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and a Pepr module per file: keep files in separate
    // processes so module-level state (Pepr's watch registration, KUBECONFIG) never leaks.
    pool: "forks",
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-results.json" },
  },
});
