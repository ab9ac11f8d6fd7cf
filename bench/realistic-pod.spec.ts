import { describe, expect, it } from "vitest";
import { RealisticPods, fieldsOf, placeOf, podName } from "./realistic-pod";

describe("RealisticPods", () => {
  const pods = new RealisticPods();

  it("builds pods of about 16 KB of JSON, managedFields included", () => {
    for (const i of [0, 96, 12_345, 99_999]) {
      const pod = pods.pod(i, placeOf(i, 1000));
      const bytes = JSON.stringify(pod).length;
      expect(bytes).toBeGreaterThan(15_000);
      expect(bytes).toBeLessThan(17_000);
      const managers = pod.metadata.managedFields.map((m: { manager: string }) => m.manager);
      expect(managers).toEqual(["kube-controller-manager", "kubelet"]);
      expect(JSON.stringify(pod.metadata.managedFields).length).toBeGreaterThan(5_000);
    }
  });

  it("gives every pod its own IP and a name unique in its namespace, as its ReplicaSet would", () => {
    const ips = new Set<string>();
    const names = new Set<string>();
    for (let i = 0; i < 21_000; i += 7) {
      const place = placeOf(i, 100);
      const pod = pods.pod(i, place);
      expect(pod.status.podIP).toBe(place.ip);
      expect(pod.metadata.name).toBe(podName(i, place));
      expect(pod.metadata.name.startsWith(`${pod.metadata.generateName}`)).toBe(true);
      ips.add(place.ip);
      names.add(`${place.namespace}/${pod.metadata.name}`);
    }
    expect(ips.size).toBe(3_000);
    expect(names.size).toBe(3_000);
  });

  it("records the fields a manager wrote as upstream's fieldsV1 does (keyed list entries)", () => {
    expect(fieldsOf({ containers: [{ name: "app", image: "x" }], podIPs: [{ ip: "10.0.0.1" }], args: ["a"] })).toEqual({
      "f:containers": { ".": {}, 'k:{"name":"app"}': { ".": {}, "f:name": {}, "f:image": {} } },
      "f:podIPs": { ".": {}, 'k:{"ip":"10.0.0.1"}': { ".": {}, "f:ip": {} } },
      "f:args": {},
    });
  });
});
