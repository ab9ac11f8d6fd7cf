import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../config";
import { leaseConfig } from "./lease-config";

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const noFile = () => undefined;

describe("leaseConfig", () => {
  it("defaults to the Lease podindex-leader in the pod's namespace, held as POD_NAME plus a random suffix", () => {
    const c = leaseConfig({ POD_NAME: "podindex-7c9f-x2" }, () => "podindex\n");
    expect(c.name).toBe("podindex-leader");
    expect(c.namespace).toBe("podindex");
    expect(c.identity).toMatch(new RegExp(`^podindex-7c9f-x2_${UUID}$`));
    expect(leaseConfig({ POD_NAME: "podindex-7c9f-x2" }, noFile).identity).not.toBe(c.identity);
  });

  it("takes the namespace from PODINDEX_LEASE_NAMESPACE, else the service account file, else POD_NAMESPACE, else pepr-system", () => {
    const env = { PODINDEX_LEASE_NAMESPACE: "leases", POD_NAMESPACE: "from-env" };
    expect(leaseConfig(env, () => "from-file").namespace).toBe("leases");
    expect(leaseConfig({ POD_NAMESPACE: "from-env" }, () => "from-file").namespace).toBe("from-file");
    expect(leaseConfig({ POD_NAMESPACE: "from-env" }, noFile).namespace).toBe("from-env");
    expect(leaseConfig({}, noFile).namespace).toBe("pepr-system");
  });

  it("names the Lease from PODINDEX_LEASE_NAME and the holder from the hostname without POD_NAME", () => {
    const c = leaseConfig({ PODINDEX_LEASE_NAME: "writer.podindex" }, noFile);
    expect(c.name).toBe("writer.podindex");
    expect(c.identity.startsWith(`${hostname()}_`)).toBe(true);
  });

  it("refuses a name or namespace the apiserver would refuse, naming the variable", () => {
    expect(() => leaseConfig({ PODINDEX_LEASE_NAME: "Leader_1" }, noFile)).toThrow(ConfigError);
    expect(() => leaseConfig({ PODINDEX_LEASE_NAME: "Leader_1" }, noFile)).toThrow(
      'PODINDEX_LEASE_NAME must be a lowercase RFC 1123 subdomain (a Lease name), got "Leader_1"',
    );
    expect(() => leaseConfig({ PODINDEX_LEASE_NAMESPACE: "a.b" }, noFile)).toThrow(
      'PODINDEX_LEASE_NAMESPACE must be a lowercase RFC 1123 label (a namespace), got "a.b"',
    );
    expect(() => leaseConfig({ POD_NAMESPACE: "A" }, noFile)).toThrow(
      `the pod's namespace (service account file or POD_NAMESPACE) must be a lowercase RFC 1123 label (a namespace), got "A"`,
    );
  });
});
