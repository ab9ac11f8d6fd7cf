import { describe, expect, it } from "vitest";
import { poolConfigFromSecret } from "./pg-connection";

const base = { PGHOST: "db.example", PGUSER: "podindex", PGPASSWORD: "s3cret", PGDATABASE: "infra" };

describe("poolConfigFromSecret", () => {
  it("reads the libpq keys, defaulting the port to 5432 and sslmode to require (TLS, unverified)", () => {
    expect(poolConfigFromSecret(base, "ops/db")).toEqual({
      host: "db.example",
      port: 5432,
      user: "podindex",
      password: "s3cret",
      database: "infra",
      ssl: { rejectUnauthorized: false },
    });
  });

  it.each([
    ["disable", false],
    ["prefer", false],
    ["verify-full", { rejectUnauthorized: true }],
  ])("maps PGSSLMODE=%s", (mode, ssl) => {
    expect(poolConfigFromSecret({ ...base, PGSSLMODE: mode, PGPORT: "6543" }, "ops/db")).toMatchObject({
      port: 6543,
      ssl,
    });
  });

  it("names what is missing or malformed", () => {
    expect(() => poolConfigFromSecret({ PGHOST: "x" }, "ops/db")).toThrow(
      "Secret ops/db lacks PGUSER, PGPASSWORD, PGDATABASE",
    );
    expect(() => poolConfigFromSecret({ ...base, PGPORT: "54x" }, "ops/db")).toThrow('PGPORT "54x" is not a port');
    expect(() => poolConfigFromSecret({ ...base, PGSSLMODE: "on" }, "ops/db")).toThrow('PGSSLMODE "on" is not one of');
  });
});
