import type { Logger } from "pino";
import type { ServiceRef } from "../endpoints/endpoint-cache";
import type { ServiceLookup } from "../endpoints/service-lookup";
import type { Runnable } from "../manager/runnable";
import { parseTableName } from "../spec/table-name";
import type { PodIndexView } from "../views/view";
import type { ViewSet } from "../views/view-set";
import { poolConfigFromSecret } from "./pg-connection";
import { PostgresMirror, type PostgresMirrorOptions, type SinkHealth } from "./postgres-mirror";

export interface MirrorsDeps {
  views: ViewSet;
  /** the rows each mirror writes */
  services: Pick<ServiceLookup, "readyPods" | "followed">;
  /** a Secret's data, decoded (a mirror's connection settings) */
  readSecret: (namespace: string, name: string) => Promise<Record<string, string>>;
  log: Logger;
  /** a mirror's health changed (the SinkReady condition, an Event) */
  onHealth: (view: PodIndexView, health: SinkHealth) => void;
  /** after each write attempt (for metrics) */
  onWrite: (podindex: string, ok: boolean) => void;
  /** the mirrors' timings (tests shorten them) */
  timings?: Pick<PostgresMirrorOptions, "coalesceMs" | "minBackoffMs" | "maxBackoffMs" | "resyncMs">;
}

/**
 * What a mirror writes into: one (table, cluster) pair. Two mirrors on the same pair would delete
 * each other's rows at every full resync, so a pair belongs to one PodIndex only.
 */
export function mirrorTarget(table: string, cluster: string): string {
  const { schema, table: name } = parseTableName(table);
  return `${schema}.${name} cluster ${JSON.stringify(cluster)}`;
}

interface Mirror {
  /** what it was built from: a changed spec, a recreated PodIndex or a changed claim builds a new one */
  signature: string;
  view: PodIndexView;
  mirror: PostgresMirror;
  /** started (after the mirrors it replaces wrote their last) */
  started: boolean;
}

/**
 * The PostgreSQL mirrors of every PodIndex whose spec.services.postgres names one, kept in line
 * with the views (reconcile()), as a leader-only runnable: mirrors run only on the replica that
 * leads, and only once the EndpointSlices are listed (a full resync before would empty their
 * tables). Each mirror's first write is a full resync, so a new leader's mirrors repair whatever
 * changed while none ran.
 *
 * The claim rule: a (table, cluster) pair belongs to the PodIndex first by name among those naming
 * it; the others get a mirror that never connects and reports TableInUse, and the pair passes on
 * when its holder goes or moves. A new mirror starts only once every mirror being stopped wrote its last.
 */
export class Mirrors implements Runnable {
  readonly name = "PostgreSQL mirrors";
  readonly leaderOnly = true;
  readonly #mirrors = new Map<string, Mirror>();
  readonly #stopping = new Set<Promise<void>>();
  #leading = false;
  #slicesListed = false;

  constructor(private readonly deps: MirrorsDeps) {}

  /** This replica leads: run a mirror for every PodIndex that asks for one. */
  start(): void {
    this.#leading = true;
    this.reconcile();
  }

  /** Stop every mirror; resolves once each wrote its last. */
  async stop(): Promise<void> {
    this.#leading = false;
    for (const name of [...this.#mirrors.keys()]) this.#drop(name);
    await Promise.all(this.#stopping);
  }

  /** The EndpointSlices are listed: mirrors may start. */
  slicesListed(): void {
    this.#slicesListed = true;
    this.reconcile();
  }

  /** Bring the mirrors in line with the views: call after any view was set, refused or deleted. */
  reconcile(): void {
    const desired = this.#desired();
    for (const [name, m] of this.#mirrors) if (desired.get(name)?.signature !== m.signature) this.#drop(name);
    if (!this.#leading || !this.#slicesListed) return;
    for (const [name, want] of desired)
      if (!this.#mirrors.has(name)) this.#create(want.view, want.claimedBy, want.signature);
  }

  /** A Service's endpoints changed: the mirrors of PodIndexes in its namespace write it. */
  markDirty(service: ServiceRef): void {
    for (const m of this.#mirrors.values()) {
      const ns = m.view.namespaces;
      if (m.started && (!ns || ns.has(service.namespace))) m.mirror.markDirty(service);
    }
  }

  /** the health of a PodIndex's mirror; undefined when none runs here */
  health(name: string): SinkHealth | undefined {
    return this.#mirrors.get(name)?.mirror.health();
  }

  /** every running mirror's health, by PodIndex */
  healths(): Map<string, SinkHealth> {
    return new Map([...this.#mirrors].map(([name, m]) => [name, m.mirror.health()]));
  }

  /** PodIndex name → the mirror it should have: which pair it writes, and who holds the pair if not it. */
  #desired(): Map<string, { view: PodIndexView; claimedBy: string | undefined; signature: string }> {
    const wanting = this.deps.views.list().filter(v => v.postgres);
    const target = (v: PodIndexView) => mirrorTarget(v.postgres!.table, v.postgres!.cluster);
    const holders = new Map<string, string>();
    for (const v of wanting) {
      const holder = holders.get(target(v));
      if (holder === undefined || v.name < holder) holders.set(target(v), v.name);
    }
    return new Map(
      wanting.map(view => {
        const holder = holders.get(target(view))!;
        const claimedBy = holder === view.name ? undefined : holder;
        // any new generation builds a new mirror (its first write is a full resync under the new spec)
        return [
          view.name,
          { view, claimedBy, signature: JSON.stringify([view.uid, view.generation, claimedBy ?? null]) },
        ];
      }),
    );
  }

  #create(view: PodIndexView, claimedBy: string | undefined, signature: string): void {
    const pg = view.postgres!;
    const secret = `${pg.secretRef.namespace}/${pg.secretRef.name}`;
    const mirror = new PostgresMirror({
      connection: async () =>
        poolConfigFromSecret(await this.deps.readSecret(pg.secretRef.namespace, pg.secretRef.name), secret),
      table: pg.table,
      cluster: pg.cluster,
      createSchema: pg.createSchema,
      claimedBy,
      desired: service =>
        this.deps.services.readyPods(view, service).map(e => ({
          namespace: service.namespace,
          service: service.name,
          podUid: e.pod.uid,
          podName: e.pod.name,
          podIp: e.addresses[0],
          ready: true,
        })),
      desiredServices: () => this.deps.services.followed(view),
      log: this.deps.log.child({ podindex: view.name, sink: "postgres" }),
      onHealth: health => {
        this.deps.log.info({ podindex: view.name, ...health }, "PostgreSQL mirror health changed");
        this.deps.onHealth(view, health);
      },
      onWrite: ok => this.deps.onWrite(view.name, ok),
      ...this.deps.timings,
    });
    const entry: Mirror = { signature, view, mirror, started: false };
    this.#mirrors.set(view.name, entry);
    void Promise.all(this.#stopping).then(() => {
      if (this.#mirrors.get(view.name) !== entry) return;
      entry.started = true;
      mirror.start();
    });
  }

  #drop(name: string): void {
    const m = this.#mirrors.get(name);
    if (!m) return;
    this.#mirrors.delete(name);
    const stopped = m.mirror
      .stop()
      .catch(err => this.deps.log.warn({ err, podindex: name }, "stopping a PostgreSQL mirror failed"))
      .finally(() => this.#stopping.delete(stopped));
    this.#stopping.add(stopped);
  }
}
