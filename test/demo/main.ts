/**
 * npm run demo: a simulated cluster, the sample PodIndex, and the real podindex module, on this
 * machine, with no cluster. Prints what to try; runs until Ctrl-C.
 *
 * Environment: PORT (lookup server, default 8080), DEMO_API_PORT (simulated apiserver, default 6443),
 * PODINDEX_DRAIN_SECONDS (how long Ctrl-C or SIGTERM drains before stopping, as the deployed module does).
 */
import { load as loadYaml } from "js-yaml";
import { K8s, kind } from "kubernetes-fluent-client";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { PodIndex } from "../../src/kinds/podindex";
import { loadConfig } from "../../src/config";
import { installShutdown } from "../../src/shutdown";
import { startCluster } from "../support/cluster";
import { eventually, startModule } from "../support/module";
import { NAMESPACES, demoPods, demoSlices, type CreatedPod } from "./cluster";

async function main(): Promise<void> {
  const config = loadConfig();
  const lookupPort = config.port;
  const apiPort = Number(process.env.DEMO_API_PORT ?? 6443);
  const sim = await startCluster({ port: apiPort, kubeletDeleteDelayMs: 2_000, endpointSliceController: true });

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
  const example = (file: string) =>
    loadYaml(readFileSync(resolve(__dirname, "../../examples", file), "utf8")) as PodIndex;
  const sample = example("podindex.yaml");
  await K8s(PodIndex).Apply(sample, { force: true });
  await K8s(PodIndex).Apply(example("podindex-fission.yaml"), { force: true });

  const mod = await startModule(lookupPort);
  await eventually(async () => {
    const res = await fetch(`${mod.url}/readyz`);
    if (res.status !== 200) throw new Error(`not ready: ${await res.text()}`);
  }, 30_000);

  const web = (await K8s(kind.Pod).InNamespace("apps").Get("web-7d9f8b6c5d-x2k4p")).metadata!.uid;
  const u = mod.url;
  const kc = `kubectl --kubeconfig ${sim.kubeconfigPath}`;
  console.log(`
podindex demo is running: ${seeded.length} pods in ${NAMESPACES.length + 2} namespaces, PodIndexes "${sample.metadata!.name}" and "fission" applied.

  lookup server        ${u}
  simulated apiserver  ${sim.url}   (kubeconfig: ${sim.kubeconfigPath})

Try:
  curl -s ${u}/readyz
  curl -s ${u}/v1/pods/by-ip/10.42.0.10            # hit: apps/web-7d9f8b6c5d-x2k4p
  curl -s ${u}/v1/pods/by-ip/10.42.9.99            # miss: 404, no pod has this IP
  curl -s ${u}/v1/pods/by-ip/fd00:42:2::11         # a dual-stack pod by its IPv6 address
  curl -s ${u}/v1/pods/by-ip/10.42.1.60            # the running pod, not the finished Job pod that had this IP
  curl -s ${u}/v1/pods/by-ip/10.0.0.11             # 404: only hostNetwork pods (node-exporter) have the node's IP
  curl -s ${u}/v1/pods/by-ip/10.42.0.2             # 404: coredns is in kube-system, which the PodIndex does not select
  curl -s ${u}/v1/pods/by-uid/${web}
  curl -s '${u}/v1/pods?namespace=functions'
  curl -s '${u}/pod?ip=10.42.0.20'                 # pod-watcher's route and shape
  curl -s '${u}/api/v1/pod?uid=${web}'             # pod-index's route and shape
  curl -s ${u}/v1/services/apps/web/endpoints      # the union of the Service's EndpointSlices
  curl -s '${u}/endpoints?namespace=apps&service=api'   # kubernetes-pod-discovery's Endpoints shape

Forward auth (PodIndex "fission"; pod apps/loadgen-… has IP 127.0.0.9, so this curl *is* that pod):
  curl -s --interface 127.0.0.9 -H 'X-Forwarded-Uri: /fission-function/functions/hello' '${u}/v1/forward-auth?index=fission'   # 200: apps may call functions
  curl -s --interface 127.0.0.9 '${u}/v1/forward-auth?index=fission&namespace=default'                                           # 403 NamespaceNotAllowed
  curl -s '${u}/v1/forward-auth?index=fission&namespace=apps'                                                                     # 403 UnknownCaller: 127.0.0.1 is no pod

Change the cluster while it runs (pods deleted gracefully are removed 2 s later, as a kubelet would):
  ${kc} get pods -A
  ${kc} label pod -n apps web-7d9f8b6c5d-x2k4p team=payments   # the hit above now shows the label
  ${kc} delete pod -n apps web-7d9f8b6c5d-m8q1z                 # then 10.42.1.10 is a 404
  ${kc} get podindex

Ctrl-C stops everything (after a ${config.drainSeconds} s drain, as in a rollout; Ctrl-C twice: at once).`);

  installShutdown({
    readiness: mod.app.readiness,
    drainMs: config.drainSeconds * 1000,
    stop: async () => {
      await mod.app.stop();
      await sim.close();
    },
    log: { info: (_obj, msg) => console.log(msg), error: (obj, msg) => console.error(msg, obj) },
    signals: ["SIGINT", "SIGTERM"],
  });
}

main().catch(err => {
  console.error("demo failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
