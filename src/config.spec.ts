import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, leaseConfig, loadConfig, podSource } from "./config";

describe("loadConfig", () => {
  it("defaults to port 8080 on all interfaces", () => {
    const { trustedProxies, lease, ...rest } = loadConfig({}, () => undefined);
    expect(lease).toMatchObject({ name: "podindex-leader", namespace: "pepr-system", leaseDurationSeconds: 15 });
    expect(rest).toEqual({
      port: 8080,
      host: "0.0.0.0",
      resyncSeconds: 30,
      logLevel: "info",
      statusIntervalMs: 2000,
      defaultService: { namespace: undefined, name: undefined },
      drainSeconds: 10,
      maxStalenessSeconds: 300,
      watchIdleSeconds: 90,
      podSource: "feed",
    });
    expect(trustedProxies.text).toEqual([]);
    expect(trustedProxies.trusts("127.0.0.1")).toBe(false);
  });

  it("reads PORT, HOST, PODINDEX_RESYNC_SECONDS, LOG_LEVEL, PODINDEX_TRUSTED_PROXIES and KUBERNETES_POD_DISCOVERY_*", () => {
    const cfg = loadConfig({
      PORT: "9090",
      HOST: "127.0.0.1",
      PODINDEX_RESYNC_SECONDS: "30",
      LOG_LEVEL: "DEBUG",
      PODINDEX_STATUS_INTERVAL_MS: "500",
      PODINDEX_TRUSTED_PROXIES: "10.43.0.17/32, fd00::17",
      KUBERNETES_POD_DISCOVERY_NAMESPACE: "apps",
      KUBERNETES_POD_DISCOVERY_SERVICE_NAME: "web",
      PODINDEX_DRAIN_SECONDS: "0",
    });
    const { trustedProxies, lease, ...rest } = cfg;
    expect(lease.name).toBe("podindex-leader");
    expect(rest).toEqual({
      port: 9090,
      host: "127.0.0.1",
      resyncSeconds: 30,
      logLevel: "debug",
      statusIntervalMs: 500,
      defaultService: { namespace: "apps", name: "web" },
      drainSeconds: 0,
      maxStalenessSeconds: 300,
      watchIdleSeconds: 90,
      podSource: "feed",
    });
    expect(trustedProxies.trusts("10.43.0.17")).toBe(true);
    expect(trustedProxies.trusts("fd00::17")).toBe(true);
    expect(trustedProxies.trusts("10.43.0.18")).toBe(false);
  });

  it.each([
    [{ PORT: "80a" }, /PORT must be a whole number/],
    [{ PORT: "70000" }, /PORT must be between 0 and 65535/],
    [{ PODINDEX_RESYNC_SECONDS: "0" }, /PODINDEX_RESYNC_SECONDS must be between 1/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL must be one of/],
    [{ PODINDEX_DRAIN_SECONDS: "1.5" }, /PODINDEX_DRAIN_SECONDS must be a whole number/],
    [{ PODINDEX_DRAIN_SECONDS: "301" }, /PODINDEX_DRAIN_SECONDS must be between 0 and 300/],
    [{ PODINDEX_TRUSTED_PROXIES: "private_ranges" }, /PODINDEX_TRUSTED_PROXIES: "private_ranges" is not an IP address/],
    [{ PODINDEX_MAX_STALENESS: "5 minutes" }, /PODINDEX_MAX_STALENESS must be a duration in seconds or like "90s"/],
    [{ PODINDEX_MAX_STALENESS: "-300" }, /PODINDEX_MAX_STALENESS must be a duration/],
    [{ PODINDEX_MAX_STALENESS: "1.5m" }, /PODINDEX_MAX_STALENESS must be a duration/],
    [{ PODINDEX_MAX_STALENESS: "5m5m" }, /PODINDEX_MAX_STALENESS must be a duration/],
    [{ PODINDEX_MAX_STALENESS: "0" }, /PODINDEX_MAX_STALENESS must be between 1 s and 86400 s, got 0 s/],
    [{ PODINDEX_MAX_STALENESS: "25h" }, /PODINDEX_MAX_STALENESS must be between 1 s and 86400 s, got 90000 s/],
    [{ PODINDEX_WATCH_IDLE_SECONDS: "5" }, /PODINDEX_WATCH_IDLE_SECONDS must be between 10 and 3600/],
    [
      { PODINDEX_SOURCE: "informer" },
      /PODINDEX_SOURCE must be "feed" or "pepr" \(see docs\/sources.md\), got "informer"/,
    ],
    [{ PODINDEX_SOURCE: "pepr,feed" }, /PODINDEX_SOURCE must be "feed" or "pepr"/],
    [
      { PODINDEX_MAX_STALENESS: "2m" },
      /PODINDEX_MAX_STALENESS \(120 s\) must exceed .* \(150 s\), or a healthy quiet cluster would turn stale/,
    ],
    [
      { PODINDEX_MAX_STALENESS: "10m", PODINDEX_RESYNC_SECONDS: "600" },
      /PODINDEX_MAX_STALENESS \(600 s\) must exceed both PODINDEX_RESYNC_SECONDS \(600 s\)/,
    ],
  ])("rejects %j with a clear message", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    ["400", 400],
    ["400s", 400],
    ["7m", 420],
    ["1h30m", 5400],
    [" 2M30S ", 150],
  ])("reads PODINDEX_MAX_STALENESS=%j as %d s", (raw, seconds) => {
    expect(loadConfig({ PODINDEX_MAX_STALENESS: raw, PODINDEX_WATCH_IDLE_SECONDS: "60" }).maxStalenessSeconds).toBe(
      seconds,
    );
  });

  it("takes a shorter bound when the idle timeout and PodIndex re-list are shorter too", () => {
    const cfg = loadConfig({
      PODINDEX_MAX_STALENESS: "90",
      PODINDEX_WATCH_IDLE_SECONDS: "20",
      PODINDEX_RESYNC_SECONDS: "30",
    });
    expect(cfg).toMatchObject({ maxStalenessSeconds: 90, watchIdleSeconds: 20, resyncSeconds: 30 });
  });

  it.each([
    ["pepr", "pepr"],
    [" Pepr ", "pepr"],
    ["feed", "feed"],
    ["", "feed"],
  ])("reads PODINDEX_SOURCE=%j as %j, the same in loadConfig and podSource", (raw, source) => {
    expect(loadConfig({ PODINDEX_SOURCE: raw }).podSource).toBe(source);
    expect(podSource({ PODINDEX_SOURCE: raw })).toBe(source);
  });

  it("podSource alone rejects what loadConfig rejects, and ignores the other variables", () => {
    expect(() => podSource({ PODINDEX_SOURCE: "watch" })).toThrow(ConfigError);
    expect(podSource({ PORT: "not a port" })).toBe("feed");
  });
});

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

  it("reads the lease timings, fractions allowed, and refuses what client-go refuses", () => {
    const env = {
      PODINDEX_LEASE_DURATION_SECONDS: "3",
      PODINDEX_LEASE_RENEW_DEADLINE_SECONDS: "2",
      PODINDEX_LEASE_RETRY_PERIOD_SECONDS: "0.5",
    };
    expect(leaseConfig(env, noFile)).toMatchObject({
      leaseDurationSeconds: 3,
      renewDeadlineSeconds: 2,
      retryPeriodSeconds: 0.5,
    });
    expect(() => leaseConfig({ ...env, PODINDEX_LEASE_RENEW_DEADLINE_SECONDS: "3" }, noFile)).toThrow(
      "PODINDEX_LEASE_*: leaseDurationSeconds (3) must be greater than renewDeadlineSeconds (3)",
    );
    expect(() => leaseConfig({ PODINDEX_LEASE_RETRY_PERIOD_SECONDS: "-1" }, noFile)).toThrow(
      'PODINDEX_LEASE_RETRY_PERIOD_SECONDS must be a positive number of seconds, got "-1"',
    );
  });
});
