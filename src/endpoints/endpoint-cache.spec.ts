import { describe, expect, it } from "vitest";
import { makeSlice, podUid } from "../../test/support/slices";
import { EndpointCache, unionOfSlices, type ServiceRef } from "./endpoint-cache";
import { toSliceRecord } from "./slice-record";

describe("toSliceRecord", () => {
  it("reads absent conditions as the API defines them: ready true, serving = ready, terminating false", () => {
    const rec = toSliceRecord({
      metadata: { uid: "u", name: "web-abc", namespace: "apps", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv6",
      endpoints: [{ addresses: ["FD00:42::0010"] }, { addresses: ["fd00:42::11"], conditions: { ready: false } }],
    })!;
    expect(rec.service).toBe("web");
    expect(rec.endpoints.map(e => [e.addresses[0], e.ready, e.serving, e.terminating])).toEqual([
      ["fd00:42::10", true, true, false],
      ["fd00:42::11", false, false, false],
    ]);
  });

  it("ignores a slice without the Service label", () => {
    expect(toSliceRecord({ metadata: { uid: "u", name: "x", namespace: "apps" } })).toBeUndefined();
  });
});

describe("EndpointCache", () => {
  it("joins a Service's slices and shows an endpoint listed twice once, preferring its ready listing", () => {
    const cache = new EndpointCache();
    cache.upsert(
      makeSlice("apps", "web", "web-a", [
        { ip: "10.42.0.10", pod: "web-1" },
        { ip: "10.42.0.11", pod: "web-2", ready: false },
      ]),
    );
    cache.upsert(
      makeSlice("apps", "web", "web-b", [
        { ip: "10.42.0.11", pod: "web-2" },
        { ip: "10.42.0.12", pod: "web-3" },
      ]),
    );
    cache.upsert(makeSlice("apps", "web", "web-v6", [{ ip: "fd00::10", pod: "web-1" }], { addressType: "IPv6" }));
    cache.upsert(makeSlice("apps", "api", "api-a", [{ ip: "10.42.0.20", pod: "api-1" }]));
    const union = unionOfSlices(cache.slices("apps", "web"));
    expect(union.map(e => `${e.addresses[0]} ${e.ready} ${e.slice}`)).toEqual([
      "10.42.0.10 true web-a",
      "10.42.0.11 true web-b",
      "10.42.0.12 true web-b",
      "fd00::10 true web-v6",
    ]);
    expect(
      cache
        .services()
        .map(s => `${s.namespace}/${s.name}`)
        .sort(),
    ).toEqual(["apps/api", "apps/web"]);
  });

  it("knows which Services a pod backs and whether it is ready in each, through flips and deletions", () => {
    const cache = new EndpointCache();
    const changed: ServiceRef[] = [];
    cache.onChange(s => changed.push(s));
    cache.upsert(makeSlice("apps", "web", "web-a", [{ ip: "10.42.0.10", pod: "web-1" }]));
    cache.upsert(makeSlice("apps", "all", "all-a", [{ ip: "10.42.0.10", pod: "web-1", ready: false }]));
    expect(cache.servicesOfPod(podUid("web-1"))).toEqual([
      { namespace: "apps", name: "all", ready: false },
      { namespace: "apps", name: "web", ready: true },
    ]);
    // readiness flips on the same slice
    cache.upsert(
      makeSlice("apps", "web", "web-a", [{ ip: "10.42.0.10", pod: "web-1", ready: false, terminating: true }]),
    );
    expect(cache.servicesOfPod(podUid("web-1"))).toContainEqual({ namespace: "apps", name: "web", ready: false });
    expect(cache.slices("apps", "web").map(sl => sl.endpoints[0].ready)).toEqual([false]); // read (and kept) before it goes
    // the slice goes: the pod no longer backs that Service
    cache.remove(makeSlice("apps", "web", "web-a", []));
    expect(cache.servicesOfPod(podUid("web-1"))).toEqual([{ namespace: "apps", name: "all", ready: false }]);
    expect(cache.slices("apps", "web")).toEqual([]);
    expect(changed.map(s => s.name)).toEqual(["web", "all", "web", "web"]);
  });

  it("moves a slice relabelled to another Service, notifying both", () => {
    const cache = new EndpointCache();
    const changed: string[] = [];
    cache.onChange(s => changed.push(s.name));
    cache.upsert(makeSlice("apps", "web", "s1", [{ ip: "10.42.0.10", pod: "web-1" }], { uid: "s1" }));
    expect(cache.slices("apps", "web")).toHaveLength(1);
    cache.upsert(makeSlice("apps", "api", "s1", [{ ip: "10.42.0.10", pod: "web-1" }], { uid: "s1" }));
    expect(cache.slices("apps", "web")).toEqual([]);
    expect(cache.slices("apps", "api")).toHaveLength(1);
    expect(cache.servicesOfPod(podUid("web-1"))).toEqual([{ namespace: "apps", name: "api", ready: true }]);
    expect(changed).toEqual(["web", "web", "api"]);
  });

  it("takes a slice that lost its kubernetes.io/service-name label away from its Service", () => {
    const cache = new EndpointCache();
    const changed: string[] = [];
    cache.onChange(s => changed.push(s.name));
    const slice = makeSlice("apps", "web", "web-a", [{ ip: "10.42.0.10", pod: "web-1" }]);
    cache.upsert(slice);
    const unlabelled = structuredClone(slice);
    delete unlabelled.metadata!.labels!["kubernetes.io/service-name"];
    cache.upsert(unlabelled);
    expect(cache.slices("apps", "web")).toEqual([]);
    expect(cache.services()).toEqual([]);
    expect(cache.servicesOfPod(podUid("web-1"))).toEqual([]);
    expect(cache.size).toBe(0);
    expect(changed).toEqual(["web", "web"]);
  });

  it("refuses an older state of a slice (a replayed event) and keeps the newer endpoints", () => {
    const cache = new EndpointCache();
    const at = (rv: string, ready: boolean) => {
      const s = makeSlice("apps", "web", "web-a", [{ ip: "10.42.0.10", pod: "web-1", ready }]);
      s.metadata!.resourceVersion = rv;
      return s;
    };
    cache.upsert(at("9", true));
    cache.upsert(at("10", false));
    cache.upsert(at("9", true)); // replayed: 9 < 10 numerically, though "9" > "10" as text
    expect(cache.servicesOfPod(podUid("web-1"))).toEqual([{ namespace: "apps", name: "web", ready: false }]);
    expect(cache.slices("apps", "web")[0].resourceVersion).toBe("10");
    // an older state that dropped the label is refused too: the slice stays under its Service
    const unlabelled = at("8", true);
    delete unlabelled.metadata!.labels!["kubernetes.io/service-name"];
    cache.upsert(unlabelled);
    expect(cache.slices("apps", "web")).toHaveLength(1);
    // a deletion is final, whatever version it carries
    cache.remove(at("3", true));
    expect(cache.slices("apps", "web")).toEqual([]);
  });

  it("reads the Service label as an own property only", () => {
    const slice = makeSlice("apps", "web", "web-a", []);
    slice.metadata!.labels = Object.create({ "kubernetes.io/service-name": "inherited" }) as Record<string, string>;
    expect(toSliceRecord(slice)).toBeUndefined();
  });
});
