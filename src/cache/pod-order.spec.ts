import { describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { PodCache } from "./pod-cache";
import { keyOf, PodOrder } from "./pod-order";

describe("PodOrder", () => {
  it("keeps the cache's pods in namespace/name/uid order through upserts and removals", () => {
    const cache = new PodCache();
    cache.upsert(makePod({ namespace: "b", name: "x" }));
    const order = new PodOrder(cache); // built over what the cache holds, then kept by its changes
    const gone = cache.upsert(makePod({ namespace: "a", name: "z" }))!;
    cache.upsert(makePod({ namespace: "a", name: "y", uid: "00000000-0000-4000-8000-00000000000b" }));
    cache.upsert(makePod({ namespace: "a", name: "y", uid: "00000000-0000-4000-8000-00000000000a" }));
    const moved = cache.upsert(makePod({ namespace: "c", name: "w", resourceVersion: "1" }))!;
    cache.upsert(makePod({ namespace: "c", name: "w", uid: moved.uid, resourceVersion: "2", ips: ["10.0.0.9"] }));
    cache.remove({ metadata: { uid: gone.uid } });
    const walk = [...order.after()];
    expect(walk.map(r => `${r.namespace}/${r.name}`)).toEqual(["a/y", "a/y", "b/x", "c/w"]);
    expect(walk[0].uid < walk[1].uid).toBe(true); // one name, two pods: by UID
    expect([...order.after()].at(-1)!.podIPs).toEqual(["10.0.0.9"]); // the current record, not the first
    expect(order.size).toBe(cache.size);
    const first = [...order.after()][0];
    expect([...order.after(keyOf(first))].map(r => r.name)).toEqual(["y", "x", "w"]);
    expect([...order.after(["b", "", ""])].map(r => r.name)).toEqual(["x", "w"]);
    expect([...order.after(["d", "", ""])]).toEqual([]);
  });
});
