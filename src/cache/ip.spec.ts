import { describe, expect, it } from "vitest";
import { isValidUid, normalizeIp } from "./ip";

describe("normalizeIp", () => {
  it.each([
    ["10.42.0.10", "10.42.0.10"],
    ["0.0.0.0", "0.0.0.0"],
    ["fd00:42::10", "fd00:42::10"],
    ["FD00:0042:0000:0000:0000:0000:0000:0010", "fd00:42::10"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::1", "::1"],
    ["::ffff:10.42.0.10", "10.42.0.10"],
    ["::FFFF:0a2a:000a", "10.42.0.10"],
  ])("%s → %s", (input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });

  it.each([
    "",
    "10.42.0",
    "10.1",
    "010.42.0.10",
    "10.42.0.256",
    "10.42.0.10/24",
    " 10.42.0.10",
    "fe80::1%eth0",
    "fd00::42::1",
    "not-an-ip",
    "1e1.0.0.1",
  ])("refuses %j", input => {
    expect(normalizeIp(input)).toBeUndefined();
  });
});

describe("isValidUid", () => {
  it("accepts RFC 4122 text in either case", () => {
    expect(isValidUid("4f0c2a7e-9b1d-4c3e-8f5a-1b2c3d4e5f60")).toBe(true);
    expect(isValidUid("4F0C2A7E-9B1D-4C3E-8F5A-1B2C3D4E5F60")).toBe(true);
  });
  it.each(["", "abc", "4f0c2a7e9b1d4c3e8f5a1b2c3d4e5f60", "4f0c2a7e-9b1d-4c3e-8f5a-1b2c3d4e5f6g"])(
    "refuses %j",
    input => {
      expect(isValidUid(input)).toBe(false);
    },
  );
});
