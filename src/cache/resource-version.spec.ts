import { describe, expect, it } from "vitest";
import { isOlder } from "./resource-version";

describe("isOlder", () => {
  it.each<[string, string, boolean]>([
    ["9", "10", true],
    ["10", "9", false],
    ["10", "10", false],
    ["123", "124", true],
    ["", "5", false],
    ["abc", "5", false],
    ["5", "", false],
  ])("%j older than %j: %s", (rv, than, expected) => expect(isOlder(rv, than)).toBe(expected));
});
