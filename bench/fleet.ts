/**
 * The bench's fleet, shared by the cluster process (bench/sim-host.ts) and the driver
 * (bench/main.ts): where pod i lives, the PodIndexes, and the IPC messages between the two.
 */
import type { KObject } from "../test/apiserver/server";
import { placeOf, podName } from "./realistic-pod";

export type SimCommand =
  | { id: number; type: "updates"; perSecond: number; seconds: number }
  | { id: number; type: "requestCount" }
  | { id: number; type: "podListsSince"; from: number };

/** A command as the bench sends it (the id is added on the way). */
export type SimRequest = SimCommand extends infer C ? (C extends unknown ? Omit<C, "id"> : never) : never;

export interface SimReady {
  type: "ready";
  url: string;
  kubeconfigPath: string;
  pods: number;
  namespaces: number;
  slices: number;
  /** JSON.stringify(pod).length of stored pods (min, mean, max over a sample) */
  podBytes: { min: number; mean: number; max: number };
  seedSeconds: number;
}

/** What pod i is called and answers to, as main.ts needs it to ask lookups and write pods. */
export function benchPod(i: number, pods: number) {
  const place = placeOf(i, namespacesFor(pods));
  return { ...place, name: podName(i, place) };
}

export const namespacesFor = (pods: number) => Math.max(10, Math.min(1000, Math.round(pods / 100)));

/** The PodIndexes: every namespace (labels exposed, Services followed), half of them, and a forward-auth policy. */
export function podIndexes(namespaces: number): KObject[] {
  const names = Array.from({ length: namespaces }, (_, n) => `team-${n}`);
  const pi = (name: string, spec: KObject) => ({
    apiVersion: "podindex.dev/v1alpha1",
    kind: "PodIndex",
    metadata: { name },
    spec,
  });
  return [
    pi("all", { expose: { labels: ["*"], annotations: ["podindex.dev/team"] }, services: {} }),
    pi("half", { namespaces: names.slice(0, namespaces / 2), podSelector: { matchLabels: { tier: "backend" } } }),
    pi("fission", {
      namespaces: names.slice(0, Math.max(1, namespaces / 10)),
      expose: { labels: ["app"] },
      forwardAuth: { allow: [{ namespace: "team-1", from: ["*"] }] },
    }),
  ];
}
