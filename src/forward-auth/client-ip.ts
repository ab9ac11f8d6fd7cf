import ipaddr from "ipaddr.js";
import { normalizeIp } from "../cache/ip";

/** A malformed X-Forwarded-For (or peer address): the request is refused with 400. */
export class ClientIpError extends Error {}

/**
 * The proxies whose X-Forwarded-For podindex believes, as CIDRs (a bare address is a /32 or /128).
 * Parsed with ipaddr.js; IPv4-mapped IPv6 addresses are compared as the IPv4 address they carry.
 */
export class TrustedProxies {
  readonly #v4: [ipaddr.IPv4, number][] = [];
  readonly #v6: [ipaddr.IPv6, number][] = [];

  private constructor(
    ranges: [string, number][],
    /** the list as configured, for logs */
    readonly text: readonly string[],
  ) {
    for (const [ip, bits] of ranges) {
      const addr = ipaddr.parse(ip);
      if (addr instanceof ipaddr.IPv4) this.#v4.push([addr, bits]);
      else this.#v6.push([addr as ipaddr.IPv6, bits]);
    }
  }

  /** Parse a comma- or space-separated list; throws an Error naming the first bad entry. */
  static parse(list: string): TrustedProxies {
    const entries = list.split(/[\s,]+/).filter(Boolean);
    const ranges = entries.map((entry): [string, number] => {
      const [addr, bits] = entry.split("/");
      const ip = normalizeIp(addr);
      if (ip === undefined) throw new Error(`"${entry}" is not an IP address or CIDR`);
      const v4 = !ip.includes(":");
      if (bits === undefined) return [ip, v4 ? 32 : 128];
      const written = addr.includes(":") ? 128 : 32;
      if (!/^(0|[1-9]\d{0,2})$/.test(bits) || Number(bits) > written)
        throw new Error(`"${entry}" has an invalid prefix length`);
      // an IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it carries
      const prefix = v4 && written === 128 ? Number(bits) - 96 : Number(bits);
      if (prefix < 0) throw new Error(`"${entry}" is wider than the IPv4-mapped range`);
      return [ip, prefix];
    });
    return new TrustedProxies(ranges, entries);
  }

  static none(): TrustedProxies {
    return new TrustedProxies([], []);
  }

  /** `ip` must already be normalised (normalizeIp). */
  trusts(ip: string): boolean {
    const addr = ipaddr.parse(ip);
    if (addr instanceof ipaddr.IPv4) return this.#v4.some(range => addr.match(range));
    return this.#v6.some(range => (addr as ipaddr.IPv6).match(range));
  }
}

/**
 * One X-Forwarded-For element: an address, as some proxies send it with a :port ([v6]:port,
 * v4:port). Only IPv6 is bracketed (RFC 3986's IP-literal); the address itself is read by normalizeIp.
 */
function parseForwarded(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(entry);
  if (bracketed) return bracketed[1].includes(":") ? normalizeIp(bracketed[1]) : undefined;
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(entry);
  return normalizeIp(v4port ? v4port[1] : entry);
}

export interface CallerAddress {
  /** the caller's address, normalised */
  ip: string;
  /** how it was found: the TCP peer, or X-Forwarded-For through trusted proxies */
  source: "peer" | "x-forwarded-for";
}

/**
 * The address of whoever made the call. When the TCP peer is not a trusted proxy it is the caller
 * and X-Forwarded-For is ignored (anyone can write that header). When it is, X-Forwarded-For is
 * walked from the right, past trusted proxies, and the first untrusted address is the caller:
 * entries to its left were written by the caller itself and are never believed.
 */
export function callerAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: TrustedProxies,
): CallerAddress {
  const peerIp = peer === undefined ? undefined : normalizeIp(peer);
  if (peerIp === undefined) throw new ClientIpError(`the peer address ${JSON.stringify(peer)} is not an IP address`);
  if (!trusted.trusts(peerIp)) return { ip: peerIp, source: "peer" };
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? "");
  const hops = header
    .split(",")
    .map(s => s.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = parseForwarded(hops[i]);
    if (ip === undefined) {
      throw new ClientIpError(`X-Forwarded-For entry ${JSON.stringify(hops[i])} is not an IP address`);
    }
    if (!trusted.trusts(ip)) return { ip, source: "x-forwarded-for" };
  }
  throw new ClientIpError(
    hops.length === 0
      ? `the request came through trusted proxy ${peerIp} without X-Forwarded-For`
      : "every X-Forwarded-For entry is a trusted proxy: no caller address",
  );
}
