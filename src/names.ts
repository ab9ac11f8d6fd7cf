/** Kubernetes object-name rules (RFC 1123), as the apiserver validates them. */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A DNS label: namespace and Service names (lower-case letters, digits, '-'; at most 63). */
export function isDnsLabel(s: unknown): s is string {
  return typeof s === "string" && DNS_LABEL.test(s);
}

/** A DNS subdomain: most object names (labels joined by '.'; at most 253). */
export function isDnsSubdomain(s: unknown): s is string {
  return typeof s === "string" && s.length <= 253 && DNS_SUBDOMAIN.test(s);
}
