import { describe, expect, it } from "vitest";
import type { LabelSelector } from "../kinds/podindex";
import { SpecError, compileSelector, isValidLabelKey } from "./selector";

describe("compileSelector", () => {
  const web = { app: "web", tier: "frontend" };
  const bare = { tier: "frontend" };

  it.each<[string, LabelSelector | undefined, Record<string, string> | undefined, boolean]>([
    ["absent selects all", undefined, web, true],
    ["empty selects all, even unlabelled", {}, undefined, true],
    ["matchLabels hit", { matchLabels: { app: "web" } }, web, true],
    ["matchLabels miss", { matchLabels: { app: "api" } }, web, false],
    ["In hit", { matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] }, web, true],
    ["In on missing key", { matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] }, bare, false],
    ["NotIn miss", { matchExpressions: [{ key: "app", operator: "NotIn", values: ["web"] }] }, web, false],
    [
      "NotIn matches a pod without the key",
      { matchExpressions: [{ key: "app", operator: "NotIn", values: ["web"] }] },
      bare,
      true,
    ],
    ["Exists", { matchExpressions: [{ key: "app", operator: "Exists" }] }, web, true],
    ["Exists on missing key", { matchExpressions: [{ key: "app", operator: "Exists" }] }, bare, false],
    ["DoesNotExist", { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, bare, true],
    [
      "labels AND expressions",
      { matchLabels: { tier: "frontend" }, matchExpressions: [{ key: "app", operator: "In", values: ["api"] }] },
      web,
      false,
    ],
    ["empty value", { matchLabels: { app: "" } }, { app: "" }, true],
  ])("%s", (_name, selector, labels, expected) => {
    expect(compileSelector(selector)(labels)).toBe(expected);
  });

  it.each<[string, LabelSelector, boolean]>([
    ["Exists", { matchExpressions: [{ key: "constructor", operator: "Exists" }] }, false],
    ["DoesNotExist", { matchExpressions: [{ key: "toString", operator: "DoesNotExist" }] }, true],
    ["In", { matchExpressions: [{ key: "hasOwnProperty", operator: "In", values: ["x"] }] }, false],
    ["NotIn", { matchExpressions: [{ key: "valueOf", operator: "NotIn", values: ["x"] }] }, true],
  ])("sees only a pod's own labels, not inherited keys (%s on an Object.prototype name)", (_op, selector, expected) => {
    expect(compileSelector(selector)(web)).toBe(expected);
    expect(compileSelector(selector)(JSON.parse('{"__proto__": "x"}'))).toBe(expected);
  });

  it("matches a label named like an inherited key when the pod has it", () => {
    const labels = JSON.parse('{"constructor": "yes", "__proto__": "p"}');
    expect(compileSelector({ matchLabels: { constructor: "yes" } })(labels)).toBe(true);
    expect(compileSelector({ matchExpressions: [{ key: "constructor", operator: "Exists" }] })(labels)).toBe(true);
  });

  it.each<[LabelSelector, string, RegExp]>([
    [
      { matchExpressions: [{ key: "app", operator: "Has", values: ["x"] }] },
      "InvalidSelector",
      /spec\.podSelector\.matchExpressions\[0\]\.operator: Unsupported value: "Has": supported values: "In", "NotIn", "Exists", "DoesNotExist"/,
    ],
    [
      { matchExpressions: [{ key: "app", operator: "In" }] },
      "InvalidSelector",
      /matchExpressions\[0\]\.values: Required value/,
    ],
    [{ matchExpressions: [{ key: "app", operator: "Exists", values: ["x"] }] }, "InvalidSelector", /values: Forbidden/],
    [{ matchLabels: { "bad key!": "x" } }, "InvalidLabelKey", /matchLabels: Invalid value: "bad key!"/],
    [{ matchExpressions: [{ key: "-app", operator: "Exists" }] }, "InvalidLabelKey", /matchExpressions\[0\]\.key/],
    [{ matchLabels: { app: "no spaces" } }, "InvalidLabelValue", /matchLabels\[app\]/],
  ])("rejects %j with reason %s", (selector, reason, message) => {
    let caught: unknown;
    try {
      compileSelector(selector);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SpecError);
    expect((caught as SpecError).reason).toBe(reason);
    expect((caught as SpecError).message).toMatch(message);
  });
});

describe("isValidLabelKey", () => {
  it.each(["app", "app.kubernetes.io/name", "a", "A_b-c.d", "example.com/x"])("accepts %s", key =>
    expect(isValidLabelKey(key)).toBe(true),
  );
  it.each(["", "/app", "Example.com/app", "app/", "a/b/c", "-x", "x".repeat(64), `${"a".repeat(254)}/x`])(
    "refuses %j",
    key => expect(isValidLabelKey(key)).toBe(false),
  );
});
