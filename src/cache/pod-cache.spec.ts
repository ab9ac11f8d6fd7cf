import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { PodCache, ownsIps } from "./pod-cache";
import type { PodRecord } from "./pod-record";

const names = (pods: PodRecord[]) => pods.map(p => p.name);

describe("PodCache", () => {
  it("keeps a compact record with normalised IPs and only the annotations it is told to keep", () => {
    const cache = new PodCache({ keepAnnotation: k => k === "team" });
    const rec = cache.upsert(
      makePod({
        name: "web-1",
        ips: ["10.42.0.10", "FD00:42::0010"],
        annotations: { team: "a", "kubectl.kubernetes.io/last-applied-configuration": "{…}" },
      }),
    )!;
    expect(rec.podIPs).toEqual(["10.42.0.10", "fd00:42::10"]);
    expect(rec.annotations).toEqual({ team: "a" });
    expect(rec.owners).toEqual([{ kind: "ReplicaSet", name: "web-5d4c" }]);
    expect(cache.lookupIp("fd00:42::10")).toEqual({ result: "hit", pod: rec });
    expect(cache.size).toBe(1);
    expect(cache.ipCount).toBe(2);
  });

  it("keeps labels and annotations as data: a parsed `__proto__` key is a key, not a prototype", () => {
    const pod = JSON.parse(
      JSON.stringify(makePod({ labels: { app: "web" }, annotations: { team: "a" } })).replace(
        '"app":"web"',
        '"app":"web","__proto__":"x"',
      ),
    );
    const rec = new PodCache({ keepAnnotation: () => true }).upsert(pod)!;
    expect(Object.getPrototypeOf(rec.labels)).toBe(Object.prototype);
    expect(Object.entries(rec.labels)).toEqual([
      ["app", "web"],
      ["__proto__", "x"],
    ]);
    expect(rec.annotations).toEqual({ team: "a" });
  });

  it("ignores objects without uid, name or namespace", () => {
    const cache = new PodCache();
    expect(cache.upsert({ metadata: { name: "x", namespace: "y" } })).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  describe("IP reuse", () => {
    it("a late DELETED of the old pod never removes the newer pod that reused its IP", () => {
      const cache = new PodCache();
      const oldPod = makePod({ name: "old", ips: ["10.42.0.20"] });
      cache.upsert(oldPod);
      // the old pod finished; the new one got the IP before the old one's DELETED arrived
      cache.upsert(
        makePod({
          ...{ name: "old", uid: oldPod.metadata!.uid },
          ips: ["10.42.0.20"],
          phase: "Succeeded",
          resourceVersion: "900",
        }),
      );
      const fresh = cache.upsert(makePod({ name: "new", ips: ["10.42.0.20"] }))!;
      expect(cache.lookupIp("10.42.0.20")).toEqual({ result: "hit", pod: fresh });
      cache.remove(oldPod);
      cache.remove(oldPod); // repeated
      expect(cache.lookupIp("10.42.0.20")).toEqual({ result: "hit", pod: fresh });
      expect(cache.size).toBe(1);
    });

    it("a late MODIFIED of a deleted pod (events reordered by the client) never brings it back", () => {
      const cache = new PodCache();
      const victim = makePod({ name: "victim", ips: ["10.42.3.3"], resourceVersion: "10" });
      cache.upsert(victim);
      cache.remove(victim);
      cache.upsert(
        makePod({
          name: "victim",
          uid: victim.metadata!.uid,
          ips: ["10.42.3.3"],
          resourceVersion: "11",
          deletionTimestamp: "2026-11-25T01:00:00Z",
        }),
      );
      const successor = cache.upsert(makePod({ name: "successor", ips: ["10.42.3.3"] }))!;
      expect(cache.byUid(victim.metadata!.uid!)).toBeUndefined();
      expect(cache.lookupIp("10.42.3.3")).toEqual({ result: "hit", pod: successor });
    });

    it("releases the old IP when a pod's IP changes", () => {
      const cache = new PodCache();
      const pod = makePod({ name: "web", ips: ["10.42.0.30"], resourceVersion: "10" });
      cache.upsert(pod);
      cache.upsert(makePod({ name: "web", uid: pod.metadata!.uid, ips: ["10.42.0.31"], resourceVersion: "11" }));
      expect(cache.lookupIp("10.42.0.30")).toEqual({ result: "miss", reason: "unknown" });
      expect(cache.lookupIp("10.42.0.31")).toMatchObject({ result: "hit" });
      expect(cache.ipCount).toBe(1);
    });

    it("ignores an update older than the stored one (stale relist data)", () => {
      const cache = new PodCache();
      const pod = makePod({ name: "web", ips: ["10.42.0.40"], resourceVersion: "100" });
      cache.upsert(pod);
      cache.upsert(makePod({ name: "web", uid: pod.metadata!.uid, ips: ["10.42.0.99"], resourceVersion: "99" }));
      expect(cache.byUid(pod.metadata!.uid!)!.podIPs).toEqual(["10.42.0.40"]);
    });
  });

  describe("ownership", () => {
    it("a finished pod sharing an IP with a running pod does not own it", () => {
      const cache = new PodCache();
      cache.upsert(makePod({ name: "job", ips: ["10.42.1.60"], phase: "Succeeded" }));
      cache.upsert(makePod({ name: "failed", ips: ["10.42.1.60"], phase: "Failed" }));
      const live = cache.upsert(makePod({ name: "toolbox", ips: ["10.42.1.60"] }))!;
      expect(cache.lookupIp("10.42.1.60")).toEqual({ result: "hit", pod: live });
    });

    it("an IP only finished pods list is a miss with reason terminal", () => {
      const cache = new PodCache();
      cache.upsert(makePod({ name: "job", ips: ["10.42.1.61"], phase: "Succeeded" }));
      expect(cache.lookupIp("10.42.1.61")).toEqual({ result: "miss", reason: "terminal" });
      expect(cache.ipCount).toBe(0);
    });

    it("never answers an IP lookup with a hostNetwork pod", () => {
      const cache = new PodCache();
      cache.upsert(makePod({ name: "exporter", ips: ["10.0.0.11"], hostNetwork: true }));
      cache.upsert(makePod({ name: "proxy", ips: ["10.0.0.11"], hostNetwork: true }));
      expect(cache.lookupIp("10.0.0.11")).toEqual({ result: "miss", reason: "hostNetwork" });
    });

    it("a pod being deleted gracefully still owns its IP", () => {
      const cache = new PodCache();
      cache.upsert(makePod({ name: "web", ips: ["10.42.0.50"], deletionTimestamp: "2026-11-25T01:00:30Z" }));
      expect(cache.lookupIp("10.42.0.50")).toMatchObject({
        result: "hit",
        pod: { deletionTimestamp: "2026-11-25T01:00:30Z" },
      });
    });

    it("two live claimants are a conflict listing both, even when one is not served", () => {
      const cache = new PodCache();
      cache.upsert(makePod({ name: "b", ips: ["10.42.0.60"] }));
      cache.upsert(makePod({ name: "a", namespace: "kube-system", ips: ["10.42.0.60"] }));
      const onlyApps = (rec: PodRecord) => rec.namespace === "apps";
      const found = cache.lookupIp("10.42.0.60", onlyApps);
      expect(found.result).toBe("conflict");
      // sorted by namespace, then name: apps/b before kube-system/a
      expect(found.result === "conflict" && names(found.pods)).toEqual(["b", "a"]);
    });

    it("a single owner that is not served is a plain miss", () => {
      const cache = new PodCache();
      cache.upsert(makePod({ name: "dns", namespace: "kube-system", ips: ["10.42.0.2"] }));
      expect(cache.lookupIp("10.42.0.2", rec => rec.namespace === "apps")).toEqual({
        result: "miss",
        reason: "unknown",
      });
    });
  });

  it("a resync drops exactly the pods not seen again", () => {
    const cache = new PodCache();
    const keep = makePod({ name: "keep", ips: ["10.42.0.70"] });
    const gone = makePod({ name: "gone", ips: ["10.42.0.71"] });
    cache.upsert(keep);
    cache.upsert(gone);
    cache.beginResync();
    cache.upsert(keep);
    expect(names(cache.endResync())).toEqual(["gone"]);
    expect(cache.size).toBe(1);
    expect(cache.lookupIp("10.42.0.71")).toEqual({ result: "miss", reason: "unknown" });
  });

  it("tells listeners of each change with the previous and next record", () => {
    const cache = new PodCache();
    const seen: [string | undefined, string | undefined][] = [];
    const off = cache.onChange((prev, next) => seen.push([prev?.resourceVersion, next?.resourceVersion]));
    const pod = makePod({ name: "w", resourceVersion: "5" });
    cache.upsert(pod);
    cache.upsert(pod); // same version: no change
    cache.upsert(makePod({ name: "w", uid: pod.metadata!.uid, resourceVersion: "6" }));
    cache.remove(pod);
    off();
    cache.upsert(pod);
    expect(seen).toEqual([
      [undefined, "5"],
      ["5", "6"],
      ["6", undefined],
    ]);
  });

  it("answers every IP as a plain scan of its pods would, through any sequence of changes", () => {
    const IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
    const change = fc.record({
      pod: fc.integer({ min: 0, max: 5 }),
      gone: fc.boolean(),
      ips: fc.subarray(IPS),
      phase: fc.constantFrom("Running", "Pending", "Succeeded"),
      hostNetwork: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), changes => {
        const cache = new PodCache();
        const live = new Map<number, PodRecord>();
        const removed = new Set<number>(); // a removed UID stays removed (the cache's tombstones)
        let rv = 1;
        for (const c of changes) {
          const uid = `00000000-0000-4000-8000-00000000000${c.pod}`;
          if (c.gone) {
            cache.remove({ metadata: { uid } });
            live.delete(c.pod);
            removed.add(c.pod);
            continue;
          }
          const pod = { uid, name: `p${c.pod}`, ips: c.ips, phase: c.phase, hostNetwork: c.hostNetwork };
          const rec = cache.upsert(makePod({ ...pod, resourceVersion: String(rv++) }));
          if (!removed.has(c.pod)) live.set(c.pod, rec!);
        }
        const pods = [...live.values()];
        const owning = (ip: string) => pods.filter(p => p.podIPs.includes(ip) && ownsIps(p));
        expect(cache.ipCount).toBe(IPS.filter(ip => owning(ip).length > 0).length);
        for (const ip of IPS) {
          const owners = owning(ip);
          const answer = cache.lookupIp(ip);
          if (owners.length > 1)
            expect(answer).toMatchObject({ result: "conflict", pods: expect.arrayContaining(owners) });
          else if (owners.length === 1) expect(answer).toEqual({ result: "hit", pod: owners[0] });
          else expect(answer.result).toBe("miss");
        }
      }),
    );
  });
});
