/**
 * Numeric comparison of two resourceVersions. kube-apiserver's are decimal strings (etcd revisions)
 * that only grow; clients may compare them only for ordering within one resource, which is what
 * the feed and the caches do to refuse a replayed, older state. False when either is not a number.
 */
export function isOlder(rv: string, than: string): boolean {
  if (!/^\d+$/.test(rv) || !/^\d+$/.test(than)) return false;
  return rv.length !== than.length ? rv.length < than.length : rv < than;
}

/** A resourceVersion as the etcd revision it is, or undefined when it is not one. */
export function revisionOf(rv: string | undefined): number | undefined {
  const n = rv && /^\d+$/.test(rv) ? Number(rv) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}
