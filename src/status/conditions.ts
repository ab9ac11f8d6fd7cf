import type { Condition } from "../kinds/podindex";

/**
 * Set a condition the Kubernetes way: lastTransitionTime moves only when the status value flips;
 * reason, message and observedGeneration follow the latest observation.
 */
export function setCondition(
  existing: readonly Condition[],
  next: Omit<Condition, "lastTransitionTime">,
  now: string,
): Condition[] {
  const prev = existing.find(c => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : now;
  return [...existing.filter(c => c.type !== next.type), { ...next, lastTransitionTime }].sort((a, b) =>
    a.type.localeCompare(b.type),
  );
}
