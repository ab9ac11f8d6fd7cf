import fc from "fast-check";
import ipaddr from "ipaddr.js";
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
    // IPv4-compatible (deprecated) is an IPv6 address, in whichever text it is written
    ["::10.42.0.10", "::a2a:a"],
    ["::a2a:a", "::a2a:a"],
    ["::0:a2a:a", "::a2a:a"],
    ["64:ff9b::10.42.0.10", "64:ff9b::a2a:a"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
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
    // a form refused as plain IPv4 is refused inside IPv6 too
    "::ffff:010.42.0.10",
    "::ffff:0x0a.42.0.10",
    "fd00:42:2:0:0:0:00.0.0.17",
    "::010.42.0.10",
    "::ffff:10.42.10",
    "0x0a.42.0.10",
    "00000::1",
    "1:2:3:4:5:6:7:",
    "fe80::1%",
  ])("refuses %j", input => {
    expect(normalizeIp(input)).toBeUndefined();
  });
});

/** 16-bit groups, biased towards the zeros and mapped prefixes where textual forms differ most. */
const groups = fc.oneof(
  fc.array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  }),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }))
    .map(([hi, lo]) => [0, 0, 0, 0, 0, 0xffff, hi, lo]),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }))
    .map(([hi, lo]) => [0, 0, 0, 0, 0, 0, hi, lo]),
);

/** One of the many RFC 4291 texts of these groups: padding, case, any zero run compressed, dotted tail. */
const text = (g: number[]) =>
  fc
    .record({
      pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
      upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      run: fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 8 })),
      dotted: fc.boolean(),
    })
    .map(({ pad, upper, run, dotted }) => {
      const parts = g.map((n, i) => {
        const h = n.toString(16);
        const padded = h.padStart(Math.min(4, h.length + pad[i]), "0");
        return upper[i] ? padded.toUpperCase() : padded;
      });
      if (dotted) parts.splice(6, 2, `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`);
      // compress the zero groups from run[0] on (at most run[1] of them, never into a dotted tail)
      const [start, most] = run;
      let end = start;
      while (end < Math.min(start + most, dotted ? 6 : 8) && g[end] === 0) end++;
      if (end === start) return parts.join(":");
      return `${parts.slice(0, start).join(":")}::${parts.slice(end).join(":")}`;
    });

describe("one address, one answer", () => {
  it("gives every RFC 4291 text of an address the same canonical key, itself a fixed point", () => {
    fc.assert(
      fc.property(
        groups.chain(g => fc.tuple(fc.constant(g), text(g))),
        ([g, written]) => {
          const v6 = new ipaddr.IPv6(g);
          const expected = v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
          expect(normalizeIp(written)).toBe(expected);
          expect(normalizeIp(expected)).toBe(expected);
        },
      ),
      { seed: 11, numRuns: 2000 },
    );
  });

  it("refuses a non-decimal or leading-zero IPv4 part wherever it is written", () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const odd = fc.oneof(
      octet.map(n => `0${n}`),
      octet.map(n => `0x${n.toString(16)}`),
      octet.map(n => `00${n.toString(8)}`),
    );
    fc.assert(
      fc.property(fc.array(octet, { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 3 }), odd, (o, i, bad) => {
        const quad = o.map((n, j) => (j === i ? bad : String(n))).join(".");
        for (const form of [quad, `::ffff:${quad}`, `::${quad}`, `fd00:42:2:0:0:0:${quad}`, `64:ff9b::${quad}`]) {
          expect(normalizeIp(form), form).toBeUndefined();
        }
      }),
      { seed: 11, numRuns: 500 },
    );
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
