import { describe, expect, it } from "vitest";
import { ClientIpError, TrustedProxies, callerAddress } from "./client-ip";

const proxies = TrustedProxies.parse("10.0.0.5/32, 192.168.0.0/16 fd00:1::/64");

describe("TrustedProxies", () => {
  it("matches addresses inside the configured ranges only", () => {
    expect(proxies.trusts("10.0.0.5")).toBe(true);
    expect(proxies.trusts("10.0.0.6")).toBe(false);
    expect(proxies.trusts("192.168.200.1")).toBe(true);
    expect(proxies.trusts("fd00:1::99")).toBe(true);
    expect(proxies.trusts("fd00:2::1")).toBe(false);
  });

  it("takes bare addresses as single hosts and IPv4-mapped ranges as IPv4", () => {
    const t = TrustedProxies.parse("127.0.0.1 ::ffff:10.1.0.0/112");
    expect(t.trusts("127.0.0.1")).toBe(true);
    expect(t.trusts("127.0.0.2")).toBe(false);
    expect(t.trusts("10.1.255.255")).toBe(true);
    expect(t.trusts("10.2.0.0")).toBe(false);
  });

  it("trusts nobody by default", () => {
    expect(TrustedProxies.parse("").trusts("127.0.0.1")).toBe(false);
    expect(TrustedProxies.none().trusts("10.0.0.5")).toBe(false);
  });

  it("refuses entries that are not addresses or CIDRs, naming them", () => {
    expect(() => TrustedProxies.parse("10.0.0.0/8,private_ranges")).toThrow('"private_ranges" is not an IP address');
    expect(() => TrustedProxies.parse("10.0.0.0/33")).toThrow("invalid prefix length");
    expect(() => TrustedProxies.parse("10.0.0.0/")).toThrow("invalid prefix length");
    expect(() => TrustedProxies.parse("10.0.0.0/08")).toThrow("invalid prefix length");
  });

  it("reads addresses as strictly as every other input: a form refused plain is refused inside IPv6", () => {
    for (const entry of ["010.0.0.5", "::ffff:010.0.0.5", "::ffff:0x0a.0.0.5/128", "fd00:1::00.0.0.5"]) {
      expect(() => TrustedProxies.parse(entry), entry).toThrow(`"${entry}" is not an IP address`);
    }
    // ::10.0.0.5 (IPv4-compatible) is the IPv6 address ::a00:5, not the proxy 10.0.0.5
    const compat = TrustedProxies.parse("::10.0.0.5");
    expect(compat.trusts("10.0.0.5")).toBe(false);
    expect(compat.trusts("::a00:5")).toBe(true);
  });
});

describe("callerAddress", () => {
  it("takes the peer and ignores X-Forwarded-For when the peer is not a trusted proxy", () => {
    expect(callerAddress("10.42.0.7", "10.42.9.9", proxies)).toEqual({ ip: "10.42.0.7", source: "peer" });
    expect(callerAddress("10.42.0.7", undefined, TrustedProxies.none())).toEqual({ ip: "10.42.0.7", source: "peer" });
  });

  it("normalises an IPv4-mapped IPv6 peer", () => {
    expect(callerAddress("::ffff:10.42.0.7", undefined, proxies).ip).toBe("10.42.0.7");
    expect(callerAddress("::ffff:10.0.0.5", "10.42.0.8", proxies)).toEqual({
      ip: "10.42.0.8",
      source: "x-forwarded-for",
    });
  });

  it("walks X-Forwarded-For from the right past trusted proxies to the first untrusted address", () => {
    expect(callerAddress("10.0.0.5", "10.42.0.8", proxies).ip).toBe("10.42.0.8");
    expect(callerAddress("10.0.0.5", "10.42.0.8, 192.168.1.1", proxies).ip).toBe("10.42.0.8");
    expect(callerAddress("10.0.0.5", ["10.42.0.8", "192.168.1.1"], proxies).ip).toBe("10.42.0.8");
  });

  it("never lets a spoofed left-hand entry win", () => {
    // the caller 10.42.0.66 wrote "10.42.0.8" itself; the trusted proxy appended the real peer
    expect(callerAddress("10.0.0.5", "10.42.0.8, 10.42.0.66", proxies).ip).toBe("10.42.0.66");
    // a caller claiming to be a trusted proxy's client is not believed past its own address
    expect(callerAddress("10.0.0.5", "10.42.0.8, 192.168.1.1, 10.42.0.66", proxies).ip).toBe("10.42.0.66");
    // garbage to the left of the caller is never even parsed
    expect(callerAddress("10.0.0.5", "not-an-ip, 10.42.0.66", proxies).ip).toBe("10.42.0.66");
  });

  it("reads IPv6 entries, bracketed and with ports, and normalises them", () => {
    expect(callerAddress("10.0.0.5", "2001:DB8:0:0::1", proxies).ip).toBe("2001:db8::1");
    expect(callerAddress("10.0.0.5", "[2001:db8::2]:4711", proxies).ip).toBe("2001:db8::2");
    expect(callerAddress("10.0.0.5", "10.42.0.8:31000", proxies).ip).toBe("10.42.0.8");
    expect(callerAddress("fd00:1::7", "::ffff:10.42.0.9", proxies).ip).toBe("10.42.0.9");
  });

  it("refuses a malformed entry it has to read, and a trusted hop with no caller behind it", () => {
    expect(() => callerAddress("10.0.0.5", "10.42.0.8, bogus", proxies)).toThrow(ClientIpError);
    expect(() => callerAddress("10.0.0.5", "010.42.0.8", proxies)).toThrow('"010.42.0.8" is not an IP address');
    expect(() => callerAddress("10.0.0.5", undefined, proxies)).toThrow("without X-Forwarded-For");
    expect(() => callerAddress("10.0.0.5", "192.168.3.3", proxies)).toThrow(
      "every X-Forwarded-For entry is a trusted proxy",
    );
    expect(() => callerAddress(undefined, undefined, proxies)).toThrow(ClientIpError);
  });

  it("gives one answer per address: mixed-notation IPv6 is read as strictly as plain IPv4", () => {
    for (const entry of ["::ffff:010.42.0.10", "::ffff:0x0a.42.0.10", "fd00:42:2:0:0:0:00.0.0.17", "[10.42.0.8]:80"]) {
      expect(() => callerAddress("10.0.0.5", entry, proxies), entry).toThrow(`${JSON.stringify(entry)} is not an IP`);
      expect(() => callerAddress(entry, undefined, proxies), entry).toThrow(ClientIpError);
    }
    expect(callerAddress("10.0.0.5", "::10.42.0.10", proxies).ip).toBe("::a2a:a");
    expect(callerAddress("10.0.0.5", "::a2a:a", proxies).ip).toBe("::a2a:a");
    expect(callerAddress("::ffff:10.42.0.10", undefined, proxies).ip).toBe("10.42.0.10");
    expect(callerAddress("::ffff:a2a:a", undefined, proxies).ip).toBe("10.42.0.10");
  });
});
