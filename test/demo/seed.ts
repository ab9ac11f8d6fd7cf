import { load as loadYaml } from "js-yaml";
import { K8s, kind } from "kubernetes-fluent-client";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { PodIndex } from "../../src/kinds/podindex";
import { NAMESPACES, demoPods, demoSlices, type CreatedPod } from "./cluster";

/**
 * Write the demo cluster (test/demo/cluster.ts) and the example PodIndexes through the API, as
 * kubectl and the kubelet would, to the cluster KUBECONFIG points at.
 */
export async function seedDemoCluster(): Promise<{ pods: number; podIndexes: string[]; webUid: string }> {
  for (const name of NAMESPACES) await K8s(kind.Namespace).Create({ metadata: { name } });
  const seeded = demoPods();
  const created: CreatedPod[] = [];
  for (const { pod, status } of seeded) {
    const c = await K8s(kind.Pod).Create(pod as kind.Pod);
    await K8s(kind.Pod).PatchStatus({ metadata: { name: c.metadata!.name, namespace: c.metadata!.namespace }, status });
    const s = status as { podIP?: string; conditions?: { type: string; status: string }[] };
    created.push({
      name: c.metadata!.name!,
      namespace: c.metadata!.namespace!,
      uid: c.metadata!.uid!,
      app: c.metadata!.labels?.app,
      ip: s.podIP,
      ready: s.conditions?.some(x => x.type === "Ready" && x.status === "True") ?? false,
      nodeName: c.spec!.nodeName!,
    });
  }
  for (const slice of demoSlices(created)) await K8s(kind.EndpointSlice).Create(slice);
  const podIndexes: string[] = [];
  for (const file of ["podindex.yaml", "podindex-fission.yaml"]) {
    const example = loadYaml(readFileSync(resolve(__dirname, "../../examples", file), "utf8")) as PodIndex;
    await K8s(PodIndex).Apply(example, { force: true });
    podIndexes.push(example.metadata!.name!);
  }
  const web = created.find(p => p.name === "web-7d9f8b6c5d-x2k4p")!;
  return { pods: seeded.length, podIndexes, webUid: web.uid };
}
