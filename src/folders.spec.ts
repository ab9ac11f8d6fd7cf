import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The architecture, checked: src's folders form a DAG (no folder imports one that imports it), and
 * the views (what `pepr build` loads through the capability) reach neither the sinks nor the pg driver.
 * Every import counts, type-only ones too. Files directly in src/ are each their own node (they
 * belong to no folder); spec files are left out (tests may import across).
 */
const SRC = path.resolve(__dirname);

interface SourceFile {
  file: string;
  /** the src files it imports */
  local: string[];
  /** the packages it imports */
  packages: string[];
}

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith(".ts") && !e.name.endsWith(".spec.ts") ? [full] : [];
  });
}

function resolveLocal(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, "index.ts"), base].find(
    f => f.startsWith(SRC + path.sep) && f.endsWith(".ts") && existsSync(f),
  );
}

function parse(file: string): SourceFile {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  const local: string[] = [];
  const packages: string[] = [];
  for (const { fileName } of importedFiles) {
    if (fileName.startsWith(".")) {
      const target = resolveLocal(file, fileName);
      if (target) local.push(target);
    } else packages.push(fileName.startsWith("@") ? fileName.split("/").slice(0, 2).join("/") : fileName.split("/")[0]);
  }
  return { file, local, packages };
}

/** src/views/view.ts → "views"; src/lookup.ts → "lookup.ts" */
const nodeOf = (file: string) => path.relative(SRC, file).split(path.sep)[0];

/** A cycle in the graph as the list of its nodes (first = last), or undefined. */
function findCycle(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

const files = new Map(sources().map(f => [f, parse(f)]));

function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { file, local } of files.values()) {
    const from = nodeOf(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const target of local) if (nodeOf(target) !== from) edges.add(nodeOf(target));
  }
  return graph;
}

/** every src file `start` loads, directly or through others */
function reach(start: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...start];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    todo.push(...(files.get(file)?.local ?? []));
  }
  return seen;
}

describe("src folders", () => {
  it("finds a cycle where there is one (the check can fail)", () => {
    const g = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a"])],
      ["d", new Set(["a"])],
    ]);
    expect(findCycle(g)).toEqual(["a", "b", "c", "a"]);
    g.get("c")!.clear();
    expect(findCycle(g)).toBeUndefined();
  });

  it("reads the imports of every source file, type-only ones included", () => {
    const view = files.get(path.join(SRC, "views", "view.ts"))!;
    expect(view.local.map(nodeOf)).toContain("spec");
    const writer = files.get(path.join(SRC, "status", "status-writer.ts"))!;
    expect(writer.packages).toContain("pino");
  });

  it("form a DAG: no folder imports one that imports it", () => {
    expect(findCycle(folderGraph())).toBeUndefined();
  });

  it("keep the views free of the sinks and the pg driver, also through what they import", () => {
    const views = [...files.keys()].filter(f => nodeOf(f) === "views");
    expect(views.length).toBeGreaterThan(0);
    const loaded = [...reach(views)];
    expect(loaded.filter(f => nodeOf(f) === "sinks").map(f => path.relative(SRC, f))).toEqual([]);
    expect(loaded.filter(f => files.get(f)!.packages.includes("pg")).map(f => path.relative(SRC, f))).toEqual([]);
  });
});
