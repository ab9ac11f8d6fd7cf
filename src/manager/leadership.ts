/**
 * Whether this replica leads: the one replica that writes (PodIndex status, Events, PostgreSQL
 * mirrors). A Lease elector (coordination.k8s.io) implements it; the Manager starts the
 * leader-only runnables when it says this replica leads and stops them when it no longer does.
 */
export interface Leadership {
  isLeader(): boolean;
  /** called after each change of isLeader(), which already answers the new value (the Manager reads it then) */
  onChange(cb: (leading: boolean) => void): void;
  /** Begin campaigning (resolves without waiting to lead). */
  start(): Promise<void>;
  /** Stop campaigning and give leadership up (a Lease is released), after the leader-only runnables stopped. */
  stop(): Promise<void>;
}

/** A single replica: it always leads. */
export class AlwaysLeader implements Leadership {
  isLeader(): boolean {
    return true;
  }
  onChange(): void {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
