import type { kind } from "kubernetes-fluent-client";
/**
 * The demo cluster: a small, realistic cluster as plain objects (three nodes, six namespaces,
 * Deployments, StatefulSets, DaemonSets, Fission functions, a dual-stack pod, hostNetwork pods and
 * a finished Job pod whose IP was handed to a new pod). IPs are data, never dialled.
 */
export interface SeedPod {
  pod: Record<string, unknown>;
  /** written through /status after create, as the kubelet would */
  status: Record<string, unknown>;
}

const NODES = [
  { name: "node-a", ip: "10.0.0.11", cidr: "10.42.0" },
  { name: "node-b", ip: "10.0.0.12", cidr: "10.42.1" },
  { name: "node-c", ip: "10.0.0.13", cidr: "10.42.2" },
] as const;

/** created by the demo; default and kube-system exist in every cluster */
export const NAMESPACES = ["apps", "functions", "monitoring", "fission", "gateway"] as const;

interface PodSpecInput {
  namespace: string;
  name: string;
  node: number;
  /** last octet of the pod IP on its node's range; undefined for hostNetwork pods */
  octet?: number;
  /** a pod IP outside the node's range (the demo's loopback callers) */
  ip?: string;
  labels: Record<string, string>;
  owner: { kind: string; name: string };
  serviceAccount?: string;
  image: string;
  hostNetwork?: boolean;
  ipv6?: string;
  phase?: "Running" | "Pending" | "Succeeded" | "Failed";
  annotations?: Record<string, string>;
}

function seedPod(p: PodSpecInput): SeedPod {
  const node = NODES[p.node];
  const ip = p.hostNetwork ? node.ip : (p.ip ?? `${node.cidr}.${p.octet}`);
  const phase = p.phase ?? "Running";
  const running = phase === "Running";
  return {
    pod: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: p.name,
        namespace: p.namespace,
        labels: p.labels,
        annotations: p.annotations,
        ownerReferences: [
          {
            apiVersion: p.owner.kind === "Job" ? "batch/v1" : "apps/v1",
            kind: p.owner.kind,
            name: p.owner.name,
            uid: "00000000-0000-4000-8000-000000000000",
            controller: true,
          },
        ],
      },
      spec: {
        nodeName: node.name,
        serviceAccountName: p.serviceAccount ?? "default",
        hostNetwork: p.hostNetwork || undefined,
        containers: [{ name: p.name.split("-")[0], image: p.image }],
      },
    },
    status: {
      phase,
      hostIP: node.ip,
      hostIPs: [{ ip: node.ip }],
      podIP: ip,
      podIPs: p.ipv6 ? [{ ip }, { ip: p.ipv6 }] : [{ ip }],
      conditions: [
        { type: "Ready", status: running ? "True" : "False" },
        { type: "PodScheduled", status: "True" },
      ],
      // what a kubelet reports, so `kubectl get pods` shows READY 1/1 and STATUS as a cluster does
      containerStatuses: [
        {
          name: p.name.split("-")[0],
          image: p.image,
          imageID: "",
          ready: running,
          started: running,
          restartCount: 0,
          state: running
            ? { running: { startedAt: "2026-11-25T01:00:00Z" } }
            : {
                terminated: {
                  exitCode: phase === "Succeeded" ? 0 : 1,
                  reason: phase === "Succeeded" ? "Completed" : "Error",
                },
              },
        },
      ],
    },
  };
}

function replicas(
  base: Omit<PodSpecInput, "name" | "node" | "octet">,
  owner: string,
  suffixes: string[],
  placement: [node: number, octet: number][],
): SeedPod[] {
  return suffixes.map((s, i) =>
    seedPod({ ...base, name: `${owner}-${s}`, node: placement[i][0], octet: placement[i][1] }),
  );
}

export function demoPods(): SeedPod[] {
  const team = (t: string) => ({ "podindex.dev/team": t, "example.com/build": "2026.11.3" });
  return [
    // apps: a web frontend, an API (dual-stack) and redis
    ...replicas(
      {
        namespace: "apps",
        labels: { app: "web", tier: "frontend", "pod-template-hash": "7d9f8b6c5d" },
        owner: { kind: "ReplicaSet", name: "web-7d9f8b6c5d" },
        serviceAccount: "web",
        image: "nginx:1.27",
        annotations: team("storefront"),
      },
      "web-7d9f8b6c5d",
      ["x2k4p", "m8q1z", "t5v7n"],
      [
        [0, 10],
        [1, 10],
        [2, 10],
      ],
    ),
    ...replicas(
      {
        namespace: "apps",
        labels: { app: "api", tier: "backend", "pod-template-hash": "5c6b7f9d8" },
        owner: { kind: "ReplicaSet", name: "api-5c6b7f9d8" },
        serviceAccount: "api",
        image: "ghcr.io/example/api:3.4.1",
        annotations: team("storefront"),
      },
      "api-5c6b7f9d8",
      ["h7j2k", "p9w3e"],
      [
        [0, 11],
        [1, 11],
      ],
    ),
    seedPod({
      namespace: "apps",
      name: "api-5c6b7f9d8-d4r6s",
      node: 2,
      octet: 11,
      ipv6: "fd00:42:2::11",
      labels: { app: "api", tier: "backend", "pod-template-hash": "5c6b7f9d8" },
      owner: { kind: "ReplicaSet", name: "api-5c6b7f9d8" },
      serviceAccount: "api",
      image: "ghcr.io/example/api:3.4.1",
      annotations: team("storefront"),
    }),
    seedPod({
      namespace: "apps",
      name: "redis-0",
      node: 1,
      octet: 12,
      labels: { app: "redis", "statefulset.kubernetes.io/pod-name": "redis-0" },
      owner: { kind: "StatefulSet", name: "redis" },
      serviceAccount: "redis",
      image: "redis:7.4",
    }),
    // a load generator whose pod IP is on this machine's loopback, so that `curl --interface
    // 127.0.0.9` *is* this pod calling (forward-auth in the demo)
    seedPod({
      namespace: "apps",
      name: "loadgen-5f6d7c8b9-q1w2e",
      node: 0,
      ip: "127.0.0.9",
      labels: { app: "loadgen", "pod-template-hash": "5f6d7c8b9" },
      owner: { kind: "ReplicaSet", name: "loadgen-5f6d7c8b9" },
      serviceAccount: "loadgen",
      image: "grafana/k6:0.55.0",
    }),
    // functions: Fission function pods (labels as Fission sets them)
    ...replicas(
      {
        namespace: "functions",
        labels: { functionName: "hello", environmentName: "nodejs", executorType: "poolmgr", app: "hello" },
        owner: { kind: "ReplicaSet", name: "poolmgr-nodejs-functions-6f7c" },
        serviceAccount: "fission-fetcher",
        image: "fission/node-env:1.32",
        annotations: team("functions"),
      },
      "poolmgr-nodejs-functions-6f7c",
      ["a1b2c", "d3e4f"],
      [
        [0, 20],
        [1, 20],
      ],
    ),
    ...replicas(
      {
        namespace: "functions",
        labels: { functionName: "report", environmentName: "python", executorType: "newdeploy", app: "report" },
        owner: { kind: "ReplicaSet", name: "newdeploy-report-7b9d" },
        serviceAccount: "fission-fetcher",
        image: "fission/python-env:1.32",
        annotations: team("analytics"),
      },
      "newdeploy-report-7b9d",
      ["g5h6j"],
      [[2, 20]],
    ),
    ...replicas(
      {
        namespace: "functions",
        labels: { functionName: "resize", environmentName: "go", executorType: "poolmgr", app: "resize" },
        owner: { kind: "ReplicaSet", name: "poolmgr-go-functions-4c2a" },
        serviceAccount: "fission-fetcher",
        image: "fission/go-env:1.32",
      },
      "poolmgr-go-functions-4c2a",
      ["k7l8m", "n9p0q", "r1s2t"],
      [
        [0, 21],
        [1, 21],
        [2, 21],
      ],
    ),
    // fission control plane and the Caddy gateway in front of it
    ...replicas(
      {
        namespace: "fission",
        labels: { svc: "router", application: "fission-router" },
        owner: { kind: "ReplicaSet", name: "router-6d5f4" },
        serviceAccount: "fission-router",
        image: "fission/fission-bundle:1.21",
      },
      "router-6d5f4",
      ["u3v4w", "x5y6z"],
      [
        [0, 30],
        [1, 30],
      ],
    ),
    ...replicas(
      {
        namespace: "fission",
        labels: { svc: "executor" },
        owner: { kind: "ReplicaSet", name: "executor-8b7c6" },
        serviceAccount: "fission-executor",
        image: "fission/fission-bundle:1.21",
      },
      "executor-8b7c6",
      ["a7b8c"],
      [[2, 30]],
    ),
    ...replicas(
      {
        namespace: "gateway",
        labels: { app: "caddy" },
        owner: { kind: "ReplicaSet", name: "caddy-9f8e7" },
        serviceAccount: "caddy",
        image: "caddy:2.8",
      },
      "caddy-9f8e7",
      ["d9e0f", "g1h2i"],
      [
        [0, 40],
        [2, 40],
      ],
    ),
    // monitoring: prometheus, and node-exporter on the host network (its IP is the node's)
    seedPod({
      namespace: "monitoring",
      name: "prometheus-0",
      node: 2,
      octet: 50,
      labels: { app: "prometheus", "statefulset.kubernetes.io/pod-name": "prometheus-0" },
      owner: { kind: "StatefulSet", name: "prometheus" },
      serviceAccount: "prometheus",
      image: "prom/prometheus:v3.1.0",
      annotations: team("platform"),
    }),
    ...NODES.map((_, i) =>
      seedPod({
        namespace: "monitoring",
        name: `node-exporter-${["q2w3e", "r4t5y", "u6i7o"][i]}`,
        node: i,
        hostNetwork: true,
        labels: { app: "node-exporter" },
        owner: { kind: "DaemonSet", name: "node-exporter" },
        serviceAccount: "node-exporter",
        image: "prom/node-exporter:v1.8.2",
      }),
    ),
    // default: a finished migration Job whose IP 10.42.1.60 now belongs to a running pod
    seedPod({
      namespace: "default",
      name: "migrate-db-29384756-vx8kp",
      node: 1,
      octet: 60,
      phase: "Succeeded",
      labels: { "job-name": "migrate-db-29384756", "batch.kubernetes.io/job-name": "migrate-db-29384756" },
      owner: { kind: "Job", name: "migrate-db-29384756" },
      image: "ghcr.io/example/migrate:1.0",
    }),
    // a command-line client whose pod IP is on loopback too: the caller forward auth turns away
    // (default may call functions only in default)
    seedPod({
      namespace: "default",
      name: "cli-7c9d8b6f5-r2t4y",
      node: 2,
      ip: "127.0.0.10",
      labels: { app: "cli", "pod-template-hash": "7c9d8b6f5" },
      owner: { kind: "ReplicaSet", name: "cli-7c9d8b6f5" },
      image: "curlimages/curl:8.11.1",
    }),
    seedPod({
      namespace: "default",
      name: "toolbox-6b5d8-zz9x1",
      node: 1,
      octet: 60,
      labels: { app: "toolbox" },
      owner: { kind: "ReplicaSet", name: "toolbox-6b5d8" },
      image: "busybox:1.37",
    }),
    // kube-system: not selected by the sample PodIndex, so never served by it
    ...replicas(
      {
        namespace: "kube-system",
        labels: { "k8s-app": "kube-dns" },
        owner: { kind: "ReplicaSet", name: "coredns-5d78c9869d" },
        serviceAccount: "coredns",
        image: "registry.k8s.io/coredns/coredns:v1.11.3",
      },
      "coredns-5d78c9869d",
      ["8wq4n", "kx2lm"],
      [
        [0, 2],
        [1, 2],
      ],
    ),
    seedPod({
      namespace: "kube-system",
      name: "metrics-server-6d94bc8694-7tq2r",
      node: 2,
      octet: 3,
      labels: { "k8s-app": "metrics-server" },
      owner: { kind: "ReplicaSet", name: "metrics-server-6d94bc8694" },
      serviceAccount: "metrics-server",
      image: "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
    }),
    ...NODES.map((_, i) =>
      seedPod({
        namespace: "kube-system",
        name: `kube-proxy-${["b8n7m", "c6v5x", "z4l3k"][i]}`,
        node: i,
        hostNetwork: true,
        labels: { "k8s-app": "kube-proxy" },
        owner: { kind: "DaemonSet", name: "kube-proxy" },
        serviceAccount: "kube-proxy",
        image: "registry.k8s.io/kube-proxy:v1.32.6",
      }),
    ),
  ];
}

/** A created pod, as the demo's EndpointSlices need it. */
export interface CreatedPod {
  name: string;
  namespace: string;
  uid: string;
  app?: string;
  ip?: string;
  ready: boolean;
  nodeName: string;
}

/**
 * What the EndpointSlice controller would write for a Service per `app` label in apps and
 * monitoring: one slice per Service (port 8080), ready as the pod's Ready condition says.
 */
export function demoSlices(pods: CreatedPod[]): kind.EndpointSlice[] {
  const services = new Map<string, CreatedPod[]>();
  for (const p of pods) {
    if (!p.app || !p.ip || !["apps", "monitoring"].includes(p.namespace)) continue;
    const key = `${p.namespace}/${p.app}`;
    services.set(key, [...(services.get(key) ?? []), p]);
  }
  return [...services].map(([key, members]) => {
    const [namespace, service] = key.split("/");
    return {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${service}-x7k2p`,
        namespace,
        labels: {
          "kubernetes.io/service-name": service,
          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
      },
      addressType: "IPv4",
      endpoints: members.map(p => ({
        addresses: [p.ip!],
        conditions: { ready: p.ready, serving: p.ready, terminating: false },
        targetRef: { kind: "Pod", namespace, name: p.name, uid: p.uid },
        nodeName: p.nodeName,
      })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
  });
}
