/**
 * The hand-written contender: a client-node informer (list, then watch) feeding a Map from pod IP
 * to pod, answered by plain node:http in podindex's /v1/pods/by-ip shape. What a developer would
 * write in an afternoon; it pages its list (500 a page), as an unpaged list of 100k realistic pods
 * is larger than a JavaScript string may be. Started by bench/main.ts as a child process.
 */
import { CoreV1Api, KubeConfig, makeInformer, type V1Pod, type V1PodList } from "@kubernetes/client-node";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { serveBench } from "./child";

const kc = new KubeConfig();
kc.loadFromDefault();
const api = kc.makeApiClient(CoreV1Api);

async function listAllPods(): Promise<V1PodList> {
  const first = await api.listPodForAllNamespaces({ limit: 500 });
  const items = [...first.items];
  for (let token = first.metadata?._continue; token; ) {
    const page = await api.listPodForAllNamespaces({ limit: 500, _continue: token });
    items.push(...page.items);
    token = page.metadata?._continue;
  }
  return { ...first, items, metadata: { resourceVersion: first.metadata?.resourceVersion } };
}

const byIp = new Map<string, V1Pod>();
const ipsOf = (pod: V1Pod) => (pod.status?.podIPs ?? []).map(p => p.ip);
const informer = makeInformer(kc, "/api/v1/pods", listAllPods);
const put = (pod: V1Pod) => ipsOf(pod).forEach(ip => byIp.set(ip, pod));
informer.on("add", put);
informer.on("update", put);
informer.on("delete", pod =>
  ipsOf(pod).forEach(ip => byIp.get(ip)?.metadata?.uid === pod.metadata?.uid && byIp.delete(ip)),
);
informer.on("error", err => {
  console.error("informer:", err);
  setTimeout(() => void informer.start(), 1000);
});

let ready = false;

/** One JSON answer with its Content-Length (writeHead alone would send it chunked). */
function answer(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  const url = req.url ?? "/";
  if (url === "/readyz") {
    return answer(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", pods: byIp.size });
  }
  const ip = url.startsWith("/v1/pods/by-ip/") ? decodeURIComponent(url.slice("/v1/pods/by-ip/".length)) : "";
  const pod = byIp.get(ip);
  if (!pod) {
    return answer(res, 404, { error: "NotFound", ip });
  }
  const m = pod.metadata!;
  answer(res, 200, {
    ip,
    pod: {
      uid: m.uid,
      name: m.name,
      namespace: m.namespace,
      labels: m.labels ?? {},
      owners: (m.ownerReferences ?? []).map(o => ({ kind: o.kind, name: o.name })),
      serviceAccountName: pod.spec?.serviceAccountName ?? null,
      nodeName: pod.spec?.nodeName ?? null,
      hostIP: pod.status?.hostIP ?? null,
      podIPs: ipsOf(pod),
      phase: pod.status?.phase,
      ready: pod.status?.conditions?.some(c => c.type === "Ready" && c.status === "True") ?? false,
      creationTimestamp: m.creationTimestamp ?? null,
    },
  });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  serveBench((server.address() as AddressInfo).port);
  informer.start().then(
    () => (ready = true),
    err => {
      console.error("informer start:", err);
      process.exit(1);
    },
  );
});
