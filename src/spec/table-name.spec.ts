import { describe, expect, it } from "vitest";
import { TableNameError, parseTableName } from "./table-name";

describe("parseTableName", () => {
  it("reads a table in schema public, or schema.table", () => {
    expect(parseTableName("endpoints")).toEqual({ schema: "public", table: "endpoints" });
    expect(parseTableName("podindex.endpoints")).toEqual({ schema: "podindex", table: "endpoints" });
  });

  it.each(["x; drop table y", "Public.Foo", "a.b.c", '"quoted"', "", "server--", "1abc", "a".repeat(64)])(
    "refuses %j",
    bad => expect(() => parseTableName(bad)).toThrow(TableNameError),
  );
});
