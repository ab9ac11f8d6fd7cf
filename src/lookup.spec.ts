import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makePod } from "../test/support/pods";
import { podIndex, testServer, type TestServer } from "../test/support/server";
import { makeSlice } from "../test/support/slices";
import { podView } from "./http/present";
import { PodLookup, type LookupResult } from "./lookup";
import { PodIndexView } from "./views/view";

const UIDS = [
  "aaaaaaaa-0000-4000-8000-000000000001",
  "bbbbbbbb-0000-4000-8000-000000000002",
  "cccccccc-0000-4000-8000-000000000003",
];
const IPS = ["10.1.0.1", "10.1.0.2", "fd00::1"];
/** every PodIndex, each one, and one that does not exist */
const SCOPES = [undefined, "a", "b", "gone"];
const MAX_STALENESS_MS = 10_000;

/** What a user sees of a lookup's answer: the pods as the HTTP routes present them. */
function seen(r: LookupResult): unknown {
  if (r.kind === "hit") return { kind: r.kind, pod: podView(r.pod) };
  if (r.kind === "conflict") return { kind: r.kind, pods: r.pods.map(podView), hidden: r.hidden };
  return r;
}

type Upsert = {
  op: "upsert";
  pod: number;
  ips: number[];
  app: string;
  phase: string;
  hostNetwork: boolean;
  note: string;
};

/** One thing that happens to the cluster, or to the clock, between lookups. */
type Step =
  | Upsert
  | { op: "relist"; keepNotes: boolean }
  | { op: "remove"; pod: number }
  | { op: "slice"; pod: number; service: string; ready: boolean }
  | { op: "unslice"; service: string }
  | { op: "spec"; index: "a" | "b"; app: string; exposeNote: boolean }
  | { op: "clock"; ms: number }
  | { op: "fresh" };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("upsert" as const),
    pod: fc.nat(UIDS.length - 1),
    ips: fc.uniqueArray(fc.nat(IPS.length - 1), { maxLength: 2 }),
    app: fc.constantFrom("web", "db"),
    phase: fc.constantFrom("Running", "Running", "Succeeded"),
    hostNetwork: fc.boolean(),
    note: fc.constantFrom("x", "y"),
  }),
  fc.record({ op: fc.constant("relist" as const), keepNotes: fc.boolean() }),
  fc.record({ op: fc.constant("remove" as const), pod: fc.nat(UIDS.length - 1) }),
  fc.record({
    op: fc.constant("slice" as const),
    pod: fc.nat(UIDS.length - 1),
    service: fc.constantFrom("s1", "s2"),
    ready: fc.boolean(),
  }),
  fc.record({ op: fc.constant("unslice" as const), service: fc.constantFrom("s1", "s2") }),
  fc.record({
    op: fc.constant("spec" as const),
    index: fc.constantFrom("a" as const, "b" as const),
    app: fc.constantFrom("web", "db"),
    exposeNote: fc.boolean(),
  }),
  fc.record({ op: fc.constant("clock" as const), ms: fc.constantFrom(1_000, 6_000, 11_000) }),
  fc.record({ op: fc.constant("fresh" as const) }),
);

/** Apply a step to the parts a lookup reads, as the feeds and the apiserver would change them. */
function apply(t: TestServer, s: Step, world: { now: number; rv: number; lastPod: Map<number, Upsert> }): void {
  const pod = (p: Upsert, rv: string) =>
    makePod({
      uid: UIDS[p.pod],
      name: `pod-${p.pod}`,
      labels: { app: p.app },
      annotations: { note: p.note },
      ips: p.ips.map(i => IPS[i]),
      phase: p.phase,
      hostNetwork: p.hostNetwork,
      resourceVersion: rv,
    });
  switch (s.op) {
    case "upsert":
      world.lastPod.set(s.pod, { ...s, note: `${s.note}@${++world.rv}` });
      t.cache.upsert(pod({ ...s, note: `${s.note}@${world.rv}` }, String(world.rv)));
      return;
    case "relist":
      // a re-list hands every pod over again with its resourceVersion unchanged; here the
      // annotation filter changed in between, so the records differ though the versions do not
      t.cache.setAnnotationFilter(k => s.keepNotes && k === "note");
      for (const [n, p] of world.lastPod) {
        const held = t.cache.byUid(UIDS[n]);
        if (held) t.cache.upsert(pod(p, held.resourceVersion));
      }
      return;
    case "remove":
      t.cache.remove({ metadata: { uid: UIDS[s.pod] } });
      return;
    case "slice": {
      const p = world.lastPod.get(s.pod);
      const ip = p?.ips[0] === undefined ? "10.1.0.9" : IPS[p.ips[0]];
      const slice = makeSlice("apps", s.service, `${s.service}-x`, [
        { ip, pod: `pod-${s.pod}`, uid: UIDS[s.pod], ready: s.ready },
      ]);
      t.endpoints.upsert({ ...slice, metadata: { ...slice.metadata, resourceVersion: String(++world.rv) } });
      return;
    }
    case "unslice":
      t.endpoints.remove(makeSlice("apps", s.service, `${s.service}-x`, []));
      return;
    case "spec":
      t.views.set(
        PodIndexView.fromResource(
          podIndex(s.index, {
            podSelector: { matchLabels: { app: s.app } },
            expose: { labels: ["app"], annotations: s.exposeNote ? ["note"] : [] },
            services: {},
          }),
        ),
      );
      return;
    case "clock":
      world.now += s.ms;
      return;
    case "fresh":
      for (const kind of ["pods", "podindexes", "endpointslices"]) t.readiness.markFresh(kind);
  }
}

describe("PodLookup's kept answers", () => {
  it("are what a lookup made afresh answers, after any sequence of pod, slice, PodIndex and clock changes", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), steps => {
        const world = { now: 1_000_000, rv: 0, lastPod: new Map<number, Upsert>() };
        const t = testServer(
          {
            a: { podSelector: { matchLabels: { app: "web" } }, expose: { labels: ["app"] }, services: {} },
            b: { expose: { labels: ["app"], annotations: ["note"] }, services: {} },
          },
          { now: () => world.now },
        );
        t.readiness.maxStalenessMs = MAX_STALENESS_MS;
        t.cache.setAnnotationFilter(k => k === "note");
        t.sync();
        for (const s of [...steps, { op: "fresh" } as const]) {
          apply(t, s, world);
          // asked twice: the second answer is the kept one
          for (let round = 0; round < 2; round++)
            for (const ip of IPS)
              for (const index of SCOPES)
                expect(seen(t.lookup.byIp(ip, index))).toEqual(
                  seen(new PodLookup(t.cache, t.views, t.readiness, t.services).byIp(ip, index)),
                );
        }
      }),
      { numRuns: 300 },
    );
  });
});
