/**
 * Pods the size of real ones (about 16 KB of JSON, as kube-apiserver v1.32 sends a Deployment's pod
 * with a sidecar): labels and annotations as controllers and tools leave them, two containers with env, probes, resources and mounts, the projected service-account volume,
 * a kubelet's status with container states, and managedFields whose fieldsV1 mirror the fields each
 * manager wrote (kube-controller-manager the spec, the kubelet the status).
 */
import type { KObject } from "../test/apiserver/server";

/** Where pod i lives and what it answers to: IPs are unique per pod, names per namespace. */
export interface PodPlace {
  namespace: string;
  app: string;
  ip: string;
  node: string;
}

/** The ith pod of a fleet in `namespaces` namespaces: 97 apps, 50 nodes, unique IPs from 10.0.0.0/8. */
export function placeOf(i: number, namespaces: number): PodPlace {
  return {
    namespace: `team-${i % namespaces}`,
    app: `app-${i % 97}`,
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    node: `node-${i % 50}`,
  };
}

const hash = (i: number) => (0x9e3779b1 * (i + 1)) >>> 0;
const HEX = (n: number, len: number) => n.toString(16).padStart(len, "0").slice(-len);
const TIME = "2026-11-25T01:00:00Z";
const appNumber = (place: PodPlace) => Number(place.app.slice("app-".length));
const templateHash = (a: number) => HEX(hash(a), 10);

/** Pod i's name, as its ReplicaSet named it. */
export const podName = (i: number, place: PodPlace) =>
  `${place.app}-${templateHash(appNumber(place))}-${i.toString(36).padStart(5, "0")}`;

/** A fieldsV1 tree for the fields of `obj` (keyed list entries as `k:{"name":…}`), as a field manager records it. */
export function fieldsOf(obj: unknown): KObject {
  if (Array.isArray(obj)) {
    const out: KObject = { ".": {} };
    for (const item of obj) {
      const key = item && typeof item === "object" ? ((item as KObject).name ?? (item as KObject).ip) : undefined;
      if (key === undefined) return {};
      const id = (item as KObject).name !== undefined ? "name" : "ip";
      out[`k:${JSON.stringify({ [id]: key })}`] = { ".": {}, ...fieldsOf(item) };
    }
    return out;
  }
  if (!obj || typeof obj !== "object") return {};
  const out: KObject = {};
  for (const [k, v] of Object.entries(obj)) out[`f:${k}`] = fieldsOf(v);
  return out;
}

function container(name: string, image: string, i: number, env: number): KObject {
  return {
    name,
    image,
    imagePullPolicy: "IfNotPresent",
    args: ["--config=/etc/app/config.yaml", "--log-format=json", `--shard=${i % 16}`],
    ports: [
      { name: "http", containerPort: 8080, protocol: "TCP" },
      { name: "metrics", containerPort: 9090, protocol: "TCP" },
    ],
    env: [
      ...Array.from({ length: env }, (_, k) => ({
        name: `APP_SETTING_${k}`,
        value: `value-${k}-${HEX(hash(i + k), 8)}`,
      })),
      { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.podIP" } } },
      { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "app-db", key: "password" } } },
    ],
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    volumeMounts: [
      { name: "config", mountPath: "/etc/app", readOnly: true },
      { name: "data", mountPath: "/var/lib/app" },
      { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
    ],
    livenessProbe: {
      httpGet: { path: "/healthz", port: 8080, scheme: "HTTP" },
      initialDelaySeconds: 10,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: "/readyz", port: 8080, scheme: "HTTP" },
      timeoutSeconds: 1,
      periodSeconds: 5,
      successThreshold: 1,
      failureThreshold: 3,
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 10001,
    },
    terminationMessagePath: "/dev/termination-log",
    terminationMessagePolicy: "File",
  };
}

function containerStatus(name: string, image: string, i: number): KObject {
  return {
    name,
    state: { running: { startedAt: TIME } },
    lastState: {},
    ready: true,
    restartCount: 0,
    image,
    imageID: `${image.split(":")[0]}@sha256:${HEX(hash(i * 7), 8).repeat(8)}`,
    containerID: `containerd://${HEX(hash(i * 13), 8).repeat(8)}`,
    started: true,
    volumeMounts: [
      { name: "config", mountPath: "/etc/app", readOnly: true, recursiveReadOnly: "Disabled" },
      {
        name: "kube-api-access",
        mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
        readOnly: true,
        recursiveReadOnly: "Disabled",
      },
    ],
  };
}

/** The parts every pod of one app shares (pods of a ReplicaSet differ in name, node and IPs only). */
interface AppParts {
  metadata: KObject;
  spec: KObject;
  status: KObject;
  controllerManager: KObject;
  kubeletFields: KObject;
}

const manager = (name: string, fields: KObject, subresource?: string) => ({
  manager: name,
  operation: "Update",
  apiVersion: "v1",
  time: TIME,
  fieldsType: "FieldsV1",
  fieldsV1: fields,
  ...(subresource ? { subresource } : {}),
});

function appParts(a: number): AppParts {
  const app = `app-${a}`;
  const template = templateHash(a);
  const version = `1.${a % 20}.${a % 7}`;
  const appImage = `registry.example.com/apps/${app}:${version}`;
  const proxyImage = "registry.example.com/mesh/proxy:1.24.3";
  const metadata = {
    generateName: `${app}-${template}-`,
    labels: {
      app,
      "app.kubernetes.io/name": app,
      "app.kubernetes.io/instance": `${app}-prod`,
      "app.kubernetes.io/part-of": "bench",
      "app.kubernetes.io/version": version,
      tier: a % 2 ? "backend" : "frontend",
      "pod-template-hash": template,
    },
    annotations: {
      "kubectl.kubernetes.io/restartedAt": TIME,
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "9090",
      "podindex.dev/team": `team-${a % 13}`,
      "checksum/config": HEX(hash(a), 8).repeat(8),
    },
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: `${app}-${template}`,
        uid: `${HEX(hash(a), 8)}-0000-4000-8000-${HEX(hash(a), 12)}`,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
  const spec = {
    volumes: [
      { name: "config", configMap: { name: `${app}-config`, defaultMode: 420 } },
      { name: "data", emptyDir: { sizeLimit: "1Gi" } },
      {
        name: "kube-api-access",
        projected: {
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
            { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            {
              downwardAPI: {
                items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }],
              },
            },
          ],
          defaultMode: 420,
        },
      },
    ],
    containers: [container("app", appImage, a, 18), container("proxy", proxyImage, a, 3)],
    restartPolicy: "Always",
    terminationGracePeriodSeconds: 30,
    dnsPolicy: "ClusterFirst",
    serviceAccountName: app,
    serviceAccount: app,
    securityContext: { fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: { labelSelector: { matchLabels: { app } }, topologyKey: "kubernetes.io/hostname" },
          },
        ],
      },
    },
    schedulerName: "default-scheduler",
    tolerations: [
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    ],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: "PreemptLowerPriority",
  };
  const condition = (type: string) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: TIME });
  const status = {
    phase: "Running",
    conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map(condition),
    startTime: TIME,
    containerStatuses: [containerStatus("app", appImage, a), containerStatus("proxy", proxyImage, a)],
    qosClass: "Burstable",
  };
  const owned = { "f:metadata": fieldsOf(metadata), "f:spec": { ...fieldsOf(spec), "f:nodeName": {} } };
  return {
    metadata,
    spec,
    status,
    controllerManager: manager("kube-controller-manager", owned),
    kubeletFields: fieldsOf({ ...status, hostIP: "", hostIPs: [{ ip: "" }], podIP: "" }),
  };
}

/**
 * Builds realistic pods fast: what the pods of one app share is built once and shared (by
 * reference: treat the pods as read-only), so a million-pod fleet costs little memory here; each
 * pod's JSON is still complete (JSON.stringify(pod).length is its size on the wire).
 */
export class RealisticPods {
  readonly #apps = new Map<number, AppParts>();

  /** Pod i, without the fields the apiserver assigns (uid, resourceVersion, creationTimestamp). */
  pod(i: number, place: PodPlace): KObject {
    const a = appNumber(place);
    let parts = this.#apps.get(a);
    if (!parts) this.#apps.set(a, (parts = appParts(a)));
    const hostIP = `192.168.${Number(place.node.slice(5)) % 250}.10`;
    const podIPs = [{ ip: place.ip }];
    const kubelet = {
      ...parts.kubeletFields,
      "f:hostIPs": { ".": {}, [`k:{"ip":"${hostIP}"}`]: { ".": {}, "f:ip": {} } },
      "f:podIPs": { ".": {}, [`k:{"ip":"${place.ip}"}`]: { ".": {}, "f:ip": {} } },
    };
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: podName(i, place),
        namespace: place.namespace,
        ...parts.metadata,
        managedFields: [parts.controllerManager, manager("kubelet", { "f:status": kubelet }, "status")],
      },
      spec: { ...parts.spec, nodeName: place.node },
      status: { ...parts.status, hostIP, hostIPs: [{ ip: hostIP }], podIP: place.ip, podIPs },
    };
  }
}
