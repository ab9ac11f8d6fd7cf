import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { makePod } from "../../test/support/pods";
import { makeSlice } from "../../test/support/slices";
import { podIndex } from "../../test/support/server";
import { ownsIps, PodCache } from "../cache/pod-cache";
import { EndpointCache } from "../endpoints/endpoint-cache";
import { ServiceLookup } from "../endpoints/service-lookup";
import type { PodIndexSpec } from "../kinds/podindex";
import { Readiness } from "../readiness";
import { PodIndexView } from "../views/view";
import { ViewSet } from "../views/view-set";
import { IndexSummaries, type IndexSummary } from "./summary";

/** The oracle: every count from scratch, one pass over the cache and every Service per view. */
function recount(cache: PodCache, views: ViewSet, services: ServiceLookup): Map<string, IndexSummary> {
  const out = new Map<string, IndexSummary>();
  for (const view of views.list()) {
    const served = [...cache.values()].filter(rec => view.selects(rec));
    const ips = new Set(served.filter(ownsIps).flatMap(rec => rec.podIPs));
    const summary: IndexSummary = {
      pods: served.length,
      ips: ips.size,
      conflicts: [...ips].filter(ip => cache.lookupIp(ip).result === "conflict").length,
      namespaces: new Set(served.map(rec => rec.namespace)).size,
    };
    if (view.followsServices) {
      const followed = services.followed(view);
      const endpoints = followed.flatMap(svc => {
        const result = services.endpoints(svc.namespace, svc.name, view.name);
        return result.kind === "hit" ? result.endpoints : [];
      });
      Object.assign(summary, {
        services: followed.length,
        endpoints: endpoints.length,
        readyEndpoints: endpoints.filter(e => e.ready).length,
      });
    }
    out.set(view.name, summary);
  }
  return out;
}

function setup() {
  const views = new ViewSet();
  const cache = new PodCache();
  const endpoints = new EndpointCache();
  const readiness = new Readiness(["pods"]);
  const services = new ServiceLookup(endpoints, views, readiness);
  const summaries = () => new IndexSummaries({ cache, endpoints, views, ready: () => readiness.ready });
  return { views, cache, endpoints, readiness, services, summaries };
}

const NAMESPACES = ["a", "b", "c"];
const IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"];
const uidOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
const labels = fc.dictionary(fc.constant("app"), fc.constantFrom("web", "db"), { maxKeys: 1 });
const selector = fc.option(fc.record({ matchLabels: labels }), { nil: undefined });

/** What happens to the caches and the PodIndexes, and when the summaries are read. */
const step = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("pod" as const),
      uid: fc.nat(7),
      labels,
      ips: fc.subarray(IPS, { maxLength: 2 }),
      phase: fc.constantFrom("Running", "Running", "Running", "Pending", "Succeeded", "Failed"),
      hostNetwork: fc.constantFrom(false, false, false, true),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete-pod" as const), uid: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("slice" as const),
      uid: fc.nat(5),
      service: fc.constantFrom("s1", "s2", "Not_A_Label"),
      labels,
      addressType: fc.constantFrom("IPv4", "IPv6"),
      endpoints: fc.array(
        fc.record({ ip: fc.constantFrom(...IPS), ready: fc.boolean(), pod: fc.option(fc.nat(7), { nil: undefined }) }),
        { maxLength: 4 },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("delete-slice" as const), uid: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("podindex" as const),
      name: fc.constantFrom("x", "y", "z"),
      namespaces: fc.option(fc.subarray(NAMESPACES, { minLength: 1 }), { nil: undefined }),
      podSelector: selector,
      services: fc.option(fc.record({ selector }), { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("delete-podindex" as const), name: fc.constantFrom("x", "y", "z") }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "synced" as const }) },
  { weight: 5, arbitrary: fc.constant({ op: "read" as const }) },
);

describe("IndexSummaries", () => {
  it("keeps the same counts as a full recount through random pod, slice and PodIndex churn", () => {
    fc.assert(
      // it may start over caches that already hold pods and slices (after `start` steps)
      fc.property(fc.array(step, { maxLength: 100 }), fc.nat(100), (steps, start) => {
        const { views, cache, endpoints, readiness, services, summaries: make } = setup();
        let summaries: IndexSummaries | undefined;
        let rv = 0;
        let generation = 0;
        for (const s of steps) {
          if (rv++ === start) summaries = make();
          switch (s.op) {
            case "pod":
              cache.upsert(
                makePod({
                  uid: uidOf(s.uid),
                  name: `p${s.uid % 4}`,
                  namespace: NAMESPACES[s.uid % 3],
                  labels: s.labels,
                  ips: s.ips,
                  phase: s.phase,
                  hostNetwork: s.hostNetwork,
                  resourceVersion: String(rv),
                }),
              );
              break;
            case "delete-pod":
              cache.remove({ metadata: { uid: uidOf(s.uid) } });
              break;
            case "slice": {
              const namespace = NAMESPACES[s.uid % 3];
              const eps = s.endpoints.map(e => ({
                ip: e.ip,
                ready: e.ready,
                ...(e.pod === undefined ? {} : { pod: `p${e.pod}`, uid: uidOf(e.pod) }),
              }));
              const slice = makeSlice(namespace, s.service, `slice-${s.uid}`, eps, {
                uid: `slice-${s.uid}`,
                labels: s.labels,
                addressType: s.addressType,
              });
              endpoints.upsert({ ...slice, metadata: { ...slice.metadata, resourceVersion: String(rv) } });
              break;
            }
            case "delete-slice":
              endpoints.remove({ metadata: { uid: `slice-${s.uid}` } });
              break;
            case "podindex": {
              const spec: PodIndexSpec = { namespaces: s.namespaces, podSelector: s.podSelector, services: s.services };
              const pi = podIndex(s.name, spec);
              pi.metadata!.generation = ++generation;
              views.set(PodIndexView.fromResource(pi));
              break;
            }
            case "delete-podindex":
              views.delete(s.name);
              break;
            case "synced":
              readiness.markSynced("pods");
              break;
            case "read":
              if (summaries) expect(summaries.summaries()).toEqual(recount(cache, views, services));
          }
        }
        expect((summaries ?? make()).summaries()).toEqual(recount(cache, views, services));
      }),
      { seed: 20261201, numRuns: 1000 },
    );
  });

  it("stops counting a conflict once the view's only claimant of the IP leaves it", () => {
    const { views, cache, summaries: make } = setup();
    const summaries = make();
    views.set(PodIndexView.fromResource(podIndex("a", { namespaces: ["a"] })));
    expect(summaries.summaries().get("a")!.conflicts).toBe(0);
    const mine = cache.upsert(makePod({ namespace: "a", ips: ["10.0.0.1"] }))!;
    cache.upsert(makePod({ namespace: "b", ips: ["10.0.0.1"] }));
    expect(summaries.summaries().get("a")).toEqual({ pods: 1, ips: 1, conflicts: 1, namespaces: 1 });
    cache.remove({ metadata: { uid: mine.uid } });
    expect(summaries.summaries().get("a")).toEqual({ pods: 0, ips: 0, conflicts: 0, namespaces: 0 });
  });

  it("reads its counts without iterating the cache: only a new PodIndex is counted once", () => {
    const { views, cache, summaries: make } = setup();
    const summaries = make();
    for (let i = 0; i < 20_000; i++)
      cache.upsert(makePod({ namespace: `ns-${i % 100}`, ips: [`10.1.${i >> 8}.${i & 255}`] }));
    const scans = vi.spyOn(cache, "values");
    views.set(PodIndexView.fromResource(podIndex("all", {})));
    views.set(PodIndexView.fromResource(podIndex("some", { namespaces: ["ns-1", "ns-2"] })));
    expect(scans).toHaveBeenCalledTimes(2); // one count of each new PodIndex, when it is applied
    scans.mockClear();
    expect(summaries.summaries().get("all")).toEqual({ pods: 20_000, ips: 20_000, conflicts: 0, namespaces: 100 });
    expect(scans).not.toHaveBeenCalled();

    for (let i = 0; i < 1000; i++) {
      cache.upsert(makePod({ namespace: "ns-1", ips: [`10.2.${i >> 8}.${i & 255}`] }));
      expect(summaries.summaries().get("some")!.pods).toBe(400 + i + 1);
    }
    // a conflict: a second live pod on an IP already owned
    cache.upsert(makePod({ namespace: "ns-2", ips: ["10.1.0.1"] }));
    expect(summaries.summaries().get("all")).toMatchObject({ pods: 21_001, ips: 21_000, conflicts: 1 });
    expect(scans).not.toHaveBeenCalled();

    views.delete("some");
    expect([...summaries.summaries().keys()]).toEqual(["all"]);
    expect(scans).not.toHaveBeenCalled();
  });

  it("counts the pods of a PodIndex applied before them as they arrive: no read walks the cache", () => {
    const { views, cache, summaries: make } = setup();
    const summaries = make();
    views.set(PodIndexView.fromResource(podIndex("all", {}))); // at start: the PodIndexes come before the pods
    const scans = vi.spyOn(cache, "values");
    for (let i = 0; i < 20_000; i++)
      cache.upsert(makePod({ namespace: `ns-${i % 100}`, ips: [`10.1.${i >> 8}.${i & 255}`] }));
    expect(summaries.summaries().get("all")).toEqual({ pods: 20_000, ips: 20_000, conflicts: 0, namespaces: 100 });
    expect(scans).not.toHaveBeenCalled();
  });
});
