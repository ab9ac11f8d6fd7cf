import { describe, expect, it } from "vitest";
import { placeOf, RealisticPods } from "../../bench/realistic-pod";
import { toPodRecord, UNREAD_POD_ARRAYS } from "../cache/pod-record";
import { ArrayCut } from "./array-cut";

/** What JSON.parse gives with every metadata.managedFields emptied afterwards, as client-go's transform does. */
const emptiedAfterParse = (json: string) =>
  JSON.parse(json, (key, value) => (key === "managedFields" && Array.isArray(value) ? [] : value));

/** each test on both forms: text (a list page) and its UTF-8 bytes (a watch line) */
const forms: [string, (cut: ArrayCut, json: string) => string][] = [
  ["text", (cut, json) => cut.apply(json)],
  ["bytes", (cut, json) => cut.applyToBytes(Buffer.from(json))],
];

describe.each(forms)("ArrayCut on %s", (_form, apply) => {
  const pods = new RealisticPods();
  const managedFields = new ArrayCut(["managedFields"]);
  const withoutManagedFields = (json: string) => apply(managedFields, json);

  it("empties a realistic pod's managedFields and keeps every other field exactly", () => {
    const pod = pods.pod(7, placeOf(7, 10));
    const line = JSON.stringify({ type: "MODIFIED", object: pod });
    const cut = withoutManagedFields(line);
    expect(line.length - cut.length).toBeGreaterThan(5_000);
    expect(JSON.parse(cut)).toEqual(emptiedAfterParse(line));
    expect(JSON.parse(cut).object.metadata.managedFields).toEqual([]);
  });

  it("empties each item's in a list page", () => {
    const list = JSON.stringify({
      kind: "PodList",
      metadata: { resourceVersion: "9" },
      items: [1, 2, 3].map(i => pods.pod(i, placeOf(i, 10))),
    });
    const parsed = JSON.parse(withoutManagedFields(list));
    expect(parsed).toEqual(emptiedAfterParse(list));
    expect(parsed.items.map((p: { metadata: { managedFields: unknown[] } }) => p.metadata.managedFields)).toEqual([
      [],
      [],
      [],
    ]);
  });

  it("is not misled by strings: escaped quotes, trailing backslashes, brackets, UTF-8 and the key's own name", () => {
    const obj = {
      metadata: {
        name: "p",
        annotations: {
          managedFields: "an annotation of that name stays",
          note: "ends in a backslash \\",
          tricky: '"managedFields":[1,2] inside a string',
          brackets: "]]]}}} [[[",
          utf8: "é, \u2028 and 🚀: characters of two, three and four bytes",
        },
        managedFields: [
          {
            manager: 'one " quote ] and a "quoted" ]manager[ 🚀é',
            fieldsV1: { 'k:{"name":"main"}': { ".": {} }, "f:x\\": {}, "f:]": { "f:[": {} } },
          },
        ],
      },
      spec: { after: ["still", "here"], 'a key that ends in "managedFields': [1, 2] },
    };
    const json = JSON.stringify(obj);
    expect(JSON.parse(withoutManagedFields(json))).toEqual({
      ...obj,
      metadata: { ...obj.metadata, managedFields: [] },
    });
  });

  it("empties every array it is given the key of, and only those", () => {
    const pod = pods.pod(3, placeOf(3, 10));
    const json = JSON.stringify(pod);
    const keys = ["managedFields", "containers", "volumes", "containerStatuses"];
    const cut = apply(new ArrayCut(keys), json);
    expect(cut.length).toBeLessThan(json.length / 4);
    const emptied = JSON.parse(json, (key, value) => (keys.includes(key) && Array.isArray(value) ? [] : value));
    expect(JSON.parse(cut)).toEqual(emptied);
    // what was not named stays whole, nested arrays included
    expect(JSON.parse(cut).spec.tolerations).toEqual(pod.spec.tolerations);
    expect(JSON.parse(cut).status.conditions).toEqual(pod.status.conditions);
  });

  it("cuts nothing a pod's record is made of: the record from the cut JSON is the same", () => {
    const podCut = new ArrayCut(UNREAD_POD_ARRAYS);
    for (const i of [0, 1, 2, 50]) {
      const pod = pods.pod(i, placeOf(i, 10));
      const json = JSON.stringify({ ...pod, metadata: { ...pod.metadata, uid: `uid-${i}`, resourceVersion: "7" } });
      const cut = apply(podCut, json);
      expect(cut.length).toBeLessThan(json.length / 4);
      const whole = toPodRecord(JSON.parse(json), () => true);
      expect(whole?.podIPs).toEqual([placeOf(i, 10).ip]);
      expect(toPodRecord(JSON.parse(cut), () => true)).toEqual(whole);
    }
  });

  it("reads JSON with whitespace, as a proxy may reformat it", () => {
    const json = JSON.stringify({ metadata: { managedFields: [{ manager: "m" }], name: "p" } }, null, 2);
    expect(JSON.parse(withoutManagedFields(json))).toEqual({ metadata: { managedFields: [], name: "p" } });
  });

  it("leaves text it cannot cut as it was, so that JSON.parse reports it as before", () => {
    for (const json of [
      '{"metadata":{"managedFields":null}}', // not an array
      '{"metadata":{"managedFields":[{"manager":"m"}', // cut off inside the array
      '{"metadata":{"managedFields":[{"manager":"unterminated', // cut off inside a string
      '{"metadata":{"name":"p"}}', // none at all
    ])
      expect(withoutManagedFields(json)).toBe(json);
  });
});

describe("ArrayCut on bytes", () => {
  it("decodes UTF-8 on either side of a cut array whole, and keys of other lengths or bytes stay", () => {
    const cut = new ArrayCut(["volumes", "é"]);
    const obj = { a: "🚀é", volumes: [{ name: "😀" }], b: 'ü"', é: [1], volume: [2], volumez: [3], "é ": [4] };
    const bytes = Buffer.from(JSON.stringify(obj));
    expect(JSON.parse(cut.applyToBytes(bytes))).toEqual({ ...obj, volumes: [], é: [] });
    expect(cut.applyToBytes(bytes)).toBe(cut.apply(bytes.toString()));
  });
});
