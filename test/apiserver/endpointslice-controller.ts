import { isIPv6 } from "node:net";
import { compileSelector } from "../../src/spec/selector";
import type { KObject } from "./resources";
import type { Store, WriteOptions } from "./store";

const SERVICE_NAME = "kubernetes.io/service-name";
const MANAGED_BY = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER = "endpointslice-controller.k8s.io";
const WRITE: WriteOptions = { fieldManager: "endpointslice-controller", operation: "Update" };

const isReady = (pod: KObject) =>
  (pod.status?.conditions ?? []).some((c: KObject) => c.type === "Ready" && c.status === "True");

/** A Service port's target on a pod: a number, or a named container port (undefined when the pod has none). */
function targetPort(port: KObject, pods: KObject[]): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(String(target))) return Number(target);
  for (const pod of pods)
    for (const c of pod.spec?.containers ?? [])
      for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
  return undefined;
}

/** What kube-controller-manager's EndpointSlice controller writes for one Service and address family. */
function desiredSlice(service: KObject, pods: KObject[], addressType: "IPv4" | "IPv6"): KObject {
  const ns = service.metadata.namespace;
  const ips = (pod: KObject): string[] =>
    (pod.status?.podIPs ?? (pod.status?.podIP ? [{ ip: pod.status.podIP }] : [])).map((p: KObject) => p.ip);
  const members = pods.filter(p => ips(p).some(ip => isIPv6(ip) === (addressType === "IPv6")));
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      namespace: ns,
      labels: { ...(service.metadata.labels ?? {}), [SERVICE_NAME]: service.metadata.name, [MANAGED_BY]: CONTROLLER },
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "Service",
          name: service.metadata.name,
          uid: service.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    addressType,
    endpoints: members.map(pod => {
      const serving = isReady(pod);
      const terminating = !!pod.metadata.deletionTimestamp;
      return {
        addresses: [ips(pod).find(ip => isIPv6(ip) === (addressType === "IPv6"))],
        conditions: { ready: serving && !terminating, serving, terminating },
        targetRef: { kind: "Pod", namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
        ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      };
    }),
    ports: (service.spec?.ports ?? []).map((p: KObject) => ({
      ...(p.name ? { name: p.name } : {}),
      port: targetPort(p, members),
      protocol: p.protocol ?? "TCP",
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    })),
  };
}

/**
 * A simulated EndpointSlice controller: for every Service with a selector, one slice per address
 * family (`kubernetes.io/service-name`, managed-by `endpointslice-controller.k8s.io`) listing the
 * selected pods of its namespace that have an IP and are not finished, with ready/serving/terminating
 * from the pod's Ready condition and deletionTimestamp. Slices follow pod and Service changes (a
 * deleted pod leaves its slice) and go with their Service. Changes are reconciled after the write
 * that caused them (a microtask later), as their own writes. Returns the function that stops it.
 */
export function startEndpointSliceController(store: Store): () => void {
  const type = (plural: string, group = "", version = "v1") => store.type(group, version, plural)!;
  const [pods, services, slices] = [type("pods"), type("services"), type("endpointslices", "discovery.k8s.io")];
  const dirty = new Set<string>();
  let stopped = false;

  const reconcile = (namespace: string) => {
    const live = store.list(pods, namespace).filter(p => !["Succeeded", "Failed"].includes(p.status?.phase));
    const owned = store.list(slices, namespace).filter(s => s.metadata.labels?.[MANAGED_BY] === CONTROLLER);
    const keep = new Set<string>();
    const current = store.list(services, namespace);
    for (const service of current) {
      const selector = service.spec?.selector;
      if (!selector || Object.keys(selector).length === 0) continue; // slices of such a Service are the user's
      const match = compileSelector({ matchLabels: selector }, "selector");
      const members = live.filter(p => match(p.metadata.labels));
      const families: ("IPv4" | "IPv6")[] = service.spec?.ipFamilies ?? ["IPv4"];
      for (const family of families) {
        const existing = owned.find(
          s => s.metadata.labels?.[SERVICE_NAME] === service.metadata.name && s.addressType === family,
        );
        const want = desiredSlice(service, members, family);
        if (!existing) {
          const generateName = `${service.metadata.name}-`; // upstream's: the Service's name and 5 random characters
          const made = store.create(
            slices,
            { ...want, metadata: { ...want.metadata, generateName } },
            WRITE,
            namespace,
          );
          keep.add(made.metadata.name);
          continue;
        }
        keep.add(existing.metadata.name);
        store.update(
          slices,
          namespace,
          existing.metadata.name,
          cur => ({ ...cur, ...want, metadata: { ...cur.metadata, ...want.metadata } }),
          WRITE,
        );
      }
    }
    // surplus slices of a Service it manages go; so do slices whose owning Service is gone (the garbage
    // collector's part); slices written by others for no Service (the demo's, the tests') stay
    const uids = new Set(current.map(svc => svc.metadata.uid));
    const managed = new Set(
      current.filter(svc => Object.keys(svc.spec?.selector ?? {}).length).map(svc => svc.metadata.name),
    );
    for (const slice of owned) {
      if (keep.has(slice.metadata.name)) continue;
      const orphan = (slice.metadata.ownerReferences ?? []).some(
        (o: KObject) => o.kind === "Service" && !uids.has(o.uid),
      );
      if (orphan || managed.has(slice.metadata.labels?.[SERVICE_NAME]))
        store.delete(slices, namespace, slice.metadata.name);
    }
  };

  const schedule = (namespace: string) => {
    if (dirty.size === 0)
      queueMicrotask(() => {
        const namespaces = [...dirty];
        dirty.clear();
        if (!stopped) namespaces.forEach(reconcile);
      });
    dirty.add(namespace);
  };

  const watched = new Set([pods, services, slices].map(t => `${t.group}/${t.version}/${t.plural}`));
  const unsubscribe = store.subscribe(ev => {
    if (watched.has(ev.resource) && ev.object.metadata.namespace) schedule(ev.object.metadata.namespace);
  });
  for (const service of store.list(services)) schedule(service.metadata.namespace);
  return () => {
    stopped = true;
    unsubscribe();
  };
}
