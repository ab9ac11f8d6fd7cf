import { loadAll } from "js-yaml";
import { readFileSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PodIndex } from "../src/kinds/podindex";
import { PodIndexView } from "../src/views/view";
import type { SimulatedApiServer } from "./apiserver/server";
import { startCluster } from "./support/cluster";

const root = resolve(__dirname, "..");

/** Every whole PodIndex a reader may copy: the README's and docs' YAML blocks, and examples/. */
function documentedPodIndexes(): { where: string; pi: PodIndex }[] {
  const found: { where: string; pi: PodIndex }[] = [];
  const add = (where: string, text: string) => {
    for (const doc of loadAll(text) as PodIndex[])
      if (doc?.kind === "PodIndex" && doc.metadata?.name) found.push({ where, pi: doc });
  };
  const markdown = ["README.md", ...readdirSync(resolve(root, "docs")).map(f => `docs/${f}`)];
  for (const file of markdown.filter(f => f.endsWith(".md"))) {
    const text = readFileSync(resolve(root, file), "utf8");
    for (const [, block] of text.matchAll(/```yaml\n([\s\S]*?)```/g)) add(file, block);
  }
  for (const file of readdirSync(resolve(root, "examples")).filter(f => f.endsWith(".yaml")))
    add(`examples/${file}`, readFileSync(resolve(root, "examples", file), "utf8"));
  return found;
}

describe("the documented PodIndexes", () => {
  let sim: SimulatedApiServer;
  const documented = documentedPodIndexes();

  beforeAll(async () => {
    sim = await startCluster();
  });
  afterAll(() => sim.close());

  it("include the README's, the docs' and the examples'", () => {
    const places = new Set(documented.map(d => d.where));
    expect(places).toContain("README.md");
    expect(places).toContain("docs/podindex.md");
    expect(places).toContain("docs/forward-auth.md");
    expect(places).toContain("examples/podindex-fission.yaml");
  });

  // each under its own name: several documents show the same PodIndex
  const cases = documented.map(
    (d, i) => [`${d.where}: ${d.pi.metadata!.name}`, { ...d.pi, metadata: { name: `doc-${i}` } }] as const,
  );
  it.each(cases)("%s is accepted by the CRD with strict field validation and served by podindex", async (_, pi) => {
    const res = await fetch(`${sim.url}/apis/podindex.dev/v1alpha1/podindexes?fieldValidation=Strict&dryRun=All`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(pi),
    });
    const body = (await res.json()) as PodIndex;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(() =>
      PodIndexView.fromResource({ ...body, metadata: { ...body.metadata, uid: "u", generation: 1 } }),
    ).not.toThrow();
  });
});
