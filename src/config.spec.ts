import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config";

describe("loadConfig", () => {
  it("defaults to port 8080 on all interfaces", () => {
    const { trustedProxies, ...rest } = loadConfig({});
    expect(rest).toEqual({
      port: 8080,
      host: "0.0.0.0",
      resyncSeconds: 300,
      logLevel: "info",
      statusIntervalMs: 2000,
      defaultService: { namespace: undefined, name: undefined },
      drainSeconds: 10,
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
    const { trustedProxies, ...rest } = cfg;
    expect(rest).toEqual({
      port: 9090,
      host: "127.0.0.1",
      resyncSeconds: 30,
      logLevel: "debug",
      statusIntervalMs: 500,
      defaultService: { namespace: "apps", name: "web" },
      drainSeconds: 0,
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
  ])("rejects %j with a clear message", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
