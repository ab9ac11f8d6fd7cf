import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, podSource } from "./config";

describe("loadConfig", () => {
  it("defaults to port 8080 on all interfaces", () => {
    const { trustedProxies, ...rest } = loadConfig({});
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
    const { trustedProxies, ...rest } = cfg;
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
