import ipaddr from "ipaddr.js";

/**
 * Canonical text of an IP address, or undefined when the input is not exactly one IPv4 or IPv6
 * address. IPv4 is dotted quad; IPv6 is RFC 5952 (lower-case, longest zero run compressed); an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it carries. Zone ids, CIDR
 * suffixes, surrounding whitespace and abbreviated or leading-zero IPv4 forms are refused.
 */
export function normalizeIp(input: string): string | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(input)) {
    return input.split(".").some(part => part.length > 1 && part.startsWith("0")) ? undefined : input;
  }
  if (input.includes("%") || !ipaddr.IPv6.isValid(input)) return undefined;
  const v6 = ipaddr.IPv6.parse(input);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
}

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A Kubernetes object UID: RFC 4122 text, any case. */
export function isValidUid(input: string): boolean {
  return UID.test(input);
}
