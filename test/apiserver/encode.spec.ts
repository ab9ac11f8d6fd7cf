import { describe, expect, it } from "vitest";
import { encode, listJson } from "./encode";

describe("kept serialisations", () => {
  const pods = Array.from({ length: 3 }, (_, i) => ({
    kind: "Pod",
    metadata: { name: `p${i}`, labels: { 'a"b': "é\u2028" } },
    spec: { containers: [{ name: "c", args: [null, 1.5, true] }] },
  }));

  it("reads as JSON.stringify does, for an object and for a list around kept items", () => {
    expect(encode(pods[0])).toBe(JSON.stringify(pods[0]));
    const head = { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "7", continue: "x" } };
    expect(listJson(head, pods)).toBe(JSON.stringify({ ...head, items: pods }));
    expect(listJson(head, [])).toBe(JSON.stringify({ ...head, items: [] }));
  });

  it("serialises an object once: a second encoding is the kept text", () => {
    const pod = { metadata: { name: "once" } };
    const first = encode(pod);
    pod.metadata.name = "changed in place, which stored objects never are";
    expect(encode(pod)).toBe(first);
    expect(encode({ ...pod })).not.toBe(first);
  });
});
