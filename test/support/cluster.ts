import { K8s, kind } from "kubernetes-fluent-client";
import { PodIndex, type PodIndexSpec } from "../../src/kinds/podindex";
import { load as loadYaml } from "js-yaml";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { peprStoreCrd, startApiServer, type ApiServerOptions, type SimulatedApiServer } from "../apiserver/server";

/** The PodIndex CRD exactly as users apply it (plain YAML: client-node's loadYaml renames `default` to `_default`). */
export function podIndexCrd(): object {
  return loadYaml(readFileSync(resolve(__dirname, "../../crds/podindex.yaml"), "utf8")) as object;
}

/**
 * A simulated cluster ready for the module: the PodIndex CRD (unless `podIndexCrd: false`) and
 * Pepr's PeprStore CRD served and the pepr-system namespace present (what `kubectl apply -f crds/`
 * and Pepr's manifests provide), with KUBECONFIG pointing at it so the real clients (KFC, Pepr,
 * kubectl) use it.
 */
export async function startCluster(
  opts: ApiServerOptions & { podIndexCrd?: boolean } = {},
): Promise<SimulatedApiServer> {
  const crds = [...(opts.podIndexCrd === false ? [] : [podIndexCrd()]), peprStoreCrd, ...(opts.crds ?? [])];
  const sim = await startApiServer({ ...opts, crds });
  sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "pepr-system" } });
  process.env.KUBECONFIG = sim.kubeconfigPath;
  return sim;
}

/** Create a pod through the API (as a client would), then give it a kubelet's Running status and IP. */
export async function createRunningPod(namespace: string, name: string, ip: string, labels: Record<string, string>) {
  await K8s(kind.Pod).Create({
    metadata: { name, namespace, labels },
    spec: { nodeName: "node-a", containers: [{ name: "main", image: "nginx:1.27" }] },
  });
  await K8s(kind.Pod).PatchStatus({
    metadata: { name, namespace },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True" }] },
  });
}

/**
 * What happens to the data while the apiserver is away and another one on the same etcd takes
 * writes: pod `victim` is deleted and a new pod `successor`, running, gets its IP. Returns the
 * successor's uid.
 */
export function replacePodBehindOutage(
  sim: SimulatedApiServer,
  namespace: string,
  victim: string,
  successor: string,
  ip: string,
): string {
  const pods = sim.store.type("", "v1", "pods")!;
  sim.store.delete(pods, namespace, victim, 0);
  sim.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: successor, namespace, labels: { app: "web" } },
    spec: { nodeName: "node-b", containers: [{ name: "main", image: "nginx:1.27" }] },
  });
  sim.store.update(
    pods,
    namespace,
    successor,
    cur => ({ ...cur, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } }),
    { fieldManager: "kubelet", operation: "Update", subresource: "status" },
  );
  return sim.get("v1", "Pod", successor, namespace)!.metadata.uid;
}

/** Apply a PodIndex (server-side apply, as `kubectl apply --server-side` would). */
export async function applyPodIndex(name: string, spec: PodIndexSpec): Promise<void> {
  await K8s(PodIndex).Apply(
    { apiVersion: "podindex.dev/v1alpha1", kind: "PodIndex", metadata: { name }, spec },
    { force: true },
  );
}
