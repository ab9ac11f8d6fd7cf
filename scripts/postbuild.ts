// After `pepr build`: rewrite its manifest and Helm chart in place into podindex's
// (scripts/manifests.ts, scripts/chart.ts). `tsx scripts/postbuild.ts dist`, run by
// scripts/build.mjs; test/manifests.spec.ts calls postBuild on a recorded `pepr build` output.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { version } from "../package.json";
import { postProcessChart } from "./chart";
import { dumpAll, findManifest, serviceMonitor, transformModule, type KubeObject } from "./manifests";

export const SERVICE_MONITOR_FILE = "podindex-service-monitor.yaml";

/** Rewrites `dist` in place, adds the ServiceMonitor's file; returns the manifest's and the chart's paths. */
export function postBuild(dist: string, appVersion = version): { manifest: string; chart: string } {
  const manifest = findManifest(dist);
  const stock = (yaml.loadAll(readFileSync(manifest, "utf8")) as (KubeObject | null)[]).filter(d => d !== null);
  writeFileSync(manifest, dumpAll(transformModule(stock)));
  // for kubectl users with the Prometheus operator (its CRD must exist, so not in the manifest)
  writeFileSync(path.join(dist, SERVICE_MONITOR_FILE), dumpAll([serviceMonitor()]));
  const chartDir = readdirSync(dist).find(f => f.endsWith("-chart"));
  if (!chartDir) throw new Error(`pepr build wrote no Helm chart (${dist}/*-chart)`);
  const chart = path.join(dist, chartDir);
  postProcessChart(chart, stock, appVersion);
  return { manifest, chart };
}

if (process.argv[1] && path.resolve(process.argv[1]) === __filename) {
  const { manifest, chart } = postBuild(process.argv[2] ?? "dist");
  const dist = path.dirname(manifest);
  console.log(`built: ${manifest}, ${chart}/, ${dist}/crds/, ${path.join(dist, SERVICE_MONITOR_FILE)}`);
}
