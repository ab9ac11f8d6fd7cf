import ipaddr from "ipaddr.js";
import { isIPv4, isIPv6 } from "node:net";

/**
 * Canonical text of an IP address, or undefined when the input is not exactly one IPv4 or IPv6
 * address. Every input path (pod IPs from the apiserver, which are the cache keys, lookup routes,
 * the forward-auth peer, X-Forwarded-For, PODINDEX_TRUSTED_PROXIES) goes through here, so every
 * textual form of one address gives one key, and a form refused anywhere is refused everywhere.
 *
 * Syntax is Node's strict `net.isIPv4`/`net.isIPv6` (RFC 4291 text; IPv4 only as four decimal parts
 * without leading zeros, alone or as an IPv6 address's last 32 bits). Zone ids, CIDR suffixes and
 * whitespace are refused. Canonical form: IPv4 dotted quad; IPv6 RFC 5952 (lower case, longest zero
 * run compressed, all hex); an IPv4-mapped address (::ffff:0:0/96) is the IPv4 address it carries.
 * The deprecated IPv4-compatible form (::10.42.0.10) is the IPv6 address ::a2a:a, not the IPv4 one.
 */
export function normalizeIp(input: string): string | undefined {
  if (isIPv4(input)) return input;
  if (!isIPv6(input) || input.includes("%")) return undefined;
  // ipaddr.js would read "::a.b.c.d" as IPv4-mapped: hand it the last 32 bits in hex instead
  const dotted = input.lastIndexOf(":") + 1;
  const hex = input.includes(".")
    ? `${input.slice(0, dotted)}${hexTail(ipaddr.IPv4.parse(input.slice(dotted)).octets)}`
    : input;
  const v6 = ipaddr.IPv6.parse(hex);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
}

function hexTail([a, b, c, d]: number[]): string {
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A Kubernetes object UID: RFC 4122 text, any case. */
export function isValidUid(input: string): boolean {
  return UID.test(input);
}
