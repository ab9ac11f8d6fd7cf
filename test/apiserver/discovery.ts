import type { Store } from "./store";
import type { ResourceType } from "./resources";

const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function resourceList(groupVersion: string, types: ResourceType[]) {
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion,
    resources: types.flatMap(t => [
      {
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs,
        ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      },
      ...(t.statusSubresource
        ? [
            {
              name: `${t.plural}/status`,
              singularName: "",
              namespaced: t.namespaced,
              kind: t.kind,
              verbs: ["get", "patch", "update"],
            },
          ]
        : []),
    ]),
  };
}

/**
 * The discovery documents kubectl reads: /version, /api, /apis and each group-version's resource
 * list. Served in the legacy (unaggregated) form whatever the Accept header asks for; kubectl
 * then falls back to it, as it does with older servers. Undefined for any other path.
 */
export function discovery(
  store: Store,
  path: string,
  _accept: string,
): { body: unknown; headers?: Record<string, string> } | undefined {
  void _accept;
  const types = store.types();
  const groups = new Map<string, Set<string>>();
  for (const t of types) if (t.group) groups.set(t.group, (groups.get(t.group) ?? new Set()).add(t.version));
  const group = (name: string) => {
    const versions = [...groups.get(name)!].map(version => ({ groupVersion: `${name}/${version}`, version }));
    return { name, versions, preferredVersion: versions[0] };
  };
  if (path === "/version") {
    return {
      body: {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.6-podindex-sim",
        gitCommit: "simulated",
        gitTreeState: "clean",
        buildDate: "2026-11-01T00:00:00Z",
        goVersion: "go1.23.5",
        compiler: "gc",
        platform: "linux/amd64",
      },
    };
  }
  if (path === "/healthz" || path === "/readyz" || path === "/livez") return { body: "ok" };
  if (path === "/api")
    return {
      body: {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }],
      },
    };
  if (path === "/apis")
    return { body: { kind: "APIGroupList", apiVersion: "v1", groups: [...groups.keys()].sort().map(group) } };
  if (path === "/api/v1")
    return {
      body: resourceList(
        "v1",
        types.filter(t => t.group === ""),
      ),
    };
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (m && groups.has(m[1])) {
    if (!m[2]) return { body: { kind: "APIGroup", apiVersion: "v1", ...group(m[1]) } };
    if (groups.get(m[1])!.has(m[2]))
      return {
        body: resourceList(
          `${m[1]}/${m[2]}`,
          types.filter(t => t.group === m[1] && t.version === m[2]),
        ),
      };
  }
  return undefined;
}
