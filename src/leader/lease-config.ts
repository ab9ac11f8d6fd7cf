import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { ConfigError } from "../config";
import { isDnsLabel, isDnsSubdomain } from "../names";

/** Where the elector's Lease lives and who this replica is. */
export interface LeaseConfig {
  /** the Lease's name (PODINDEX_LEASE_NAME, default "podindex-leader") */
  name: string;
  /**
   * its namespace (PODINDEX_LEASE_NAMESPACE; default the pod's own: the service account's
   * namespace file, else POD_NAMESPACE, else "pepr-system")
   */
  namespace: string;
  /** this replica's holderIdentity: the pod name (POD_NAME, else the hostname), "_" and a random UUID */
  identity: string;
}

/** The namespace file every pod with a service account token has. */
export const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function podNamespace(env: NodeJS.ProcessEnv, readNamespace: () => string | undefined): string {
  return readNamespace()?.trim() || env.POD_NAMESPACE?.trim() || "pepr-system";
}

const readServiceAccountNamespace = (): string | undefined => {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8");
  } catch {
    return undefined; // not in a pod (a developer's machine, the tests)
  }
};

/**
 * The Lease settings from the environment. The identity is unique per process even when two
 * share a pod name (a restarted container), as controller-runtime's `hostname_uuid` is.
 */
export function leaseConfig(
  env: NodeJS.ProcessEnv = process.env,
  readNamespace: () => string | undefined = readServiceAccountNamespace,
): LeaseConfig {
  const name = env.PODINDEX_LEASE_NAME?.trim() || "podindex-leader";
  if (!isDnsSubdomain(name)) {
    throw new ConfigError(`PODINDEX_LEASE_NAME must be a lowercase RFC 1123 subdomain (a Lease name), got "${name}"`);
  }
  const asked = env.PODINDEX_LEASE_NAMESPACE?.trim();
  const namespace = asked || podNamespace(env, readNamespace);
  if (!isDnsLabel(namespace)) {
    const source = asked ? "PODINDEX_LEASE_NAMESPACE" : "the pod's namespace (service account file or POD_NAMESPACE)";
    throw new ConfigError(`${source} must be a lowercase RFC 1123 label (a namespace), got "${namespace}"`);
  }
  const pod = env.POD_NAME?.trim() || hostname();
  return { name, namespace, identity: `${pod}_${randomUUID()}` };
}
