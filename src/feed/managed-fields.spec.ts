import { describe, expect, it } from "vitest";
import { placeOf, RealisticPods } from "../../bench/realistic-pod";
import { withoutManagedFields } from "./managed-fields";

/** What JSON.parse gives with every metadata.managedFields emptied afterwards, as client-go's transform does. */
const emptiedAfterParse = (json: string) =>
  JSON.parse(json, (key, value) => (key === "managedFields" && Array.isArray(value) ? [] : value));

describe("withoutManagedFields", () => {
  const pods = new RealisticPods();

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

  it("is not misled by strings: escaped quotes, trailing backslashes, brackets and the key's own name", () => {
    const obj = {
      metadata: {
        name: "p",
        annotations: {
          managedFields: "an annotation of that name stays",
          note: "ends in a backslash \\",
          tricky: '"managedFields":[1,2] inside a string',
          brackets: "]]]}}} [[[",
        },
        managedFields: [
          {
            manager: 'one " quote ] and a "quoted" ]manager[',
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
