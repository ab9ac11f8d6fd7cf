import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PodIndex } from "../kinds/podindex";
import { PodIndexSet, type PodIndexList } from "./podindex-set";

const pi = (name: string, uid: string, rv: number, generation = 1) =>
  Object.assign(new PodIndex(), { metadata: { name, uid, generation, resourceVersion: String(rv) }, spec: {} });
const list = (rv: number, ...items: PodIndex[]): PodIndexList => ({ items, resourceVersion: String(rv) });

/** a set whose decisions are recorded: name → the uid@rv it serves */
function recorded() {
  const served = new Map<string, string>();
  const set = new PodIndexSet({
    apply: p => served.set(p.metadata!.name!, `${p.metadata!.uid}@${p.metadata!.resourceVersion}`),
    forget: name => served.delete(name),
  });
  return { set, served: () => Object.fromEntries([...served].sort()) };
}

describe("PodIndexSet", () => {
  it("applies newer versions and drops an older or repeated one (no rollback to an older generation)", () => {
    const { set, served } = recorded();
    set.changed(pi("web", "u1", 10, 2));
    set.changed(pi("web", "u1", 7, 1));
    set.changed(pi("web", "u1", 10, 2));
    expect(served()).toEqual({ web: "u1@10" });
    expect(set.listed(list(9, pi("web", "u1", 7, 1)))).toBe(true);
    expect(served()).toEqual({ web: "u1@10" });
    set.listed(list(20, pi("web", "u1", 15, 3)));
    expect(served()).toEqual({ web: "u1@15" });
  });

  it("keeps a PodIndex created after a list was read, and drops one the list already shows deleted", () => {
    const { set, served } = recorded();
    set.changed(pi("new", "u1", 12));
    set.listed(list(11));
    expect(served()).toEqual({ new: "u1@12" });
    set.changed(pi("old", "u2", 8));
    expect(served()).toEqual({ new: "u1@12" });
    set.listed(list(13));
    expect(served()).toEqual({});
  });

  it("never brings back a deleted PodIndex: a later event from the other stream, or a list read before the deletion", () => {
    const { set, served } = recorded();
    set.changed(pi("web", "u1", 5));
    set.deleted(pi("web", "u1", 9));
    set.changed(pi("web", "u1", 7));
    set.listed(list(8, pi("web", "u1", 7)));
    expect(served()).toEqual({});
    // the name can be taken again by a new object
    set.changed(pi("web", "u2", 12));
    expect(served()).toEqual({ web: "u2@12" });
  });

  it("moves a name to its newer object and ignores the older one's late events and deletion", () => {
    const { set, served } = recorded();
    set.changed(pi("web", "u2", 20));
    set.changed(pi("web", "u1", 15));
    set.deleted(pi("web", "u1", 18));
    expect(served()).toEqual({ web: "u2@20" });
    set.listed(list(25, pi("web", "u3", 24)));
    expect(served()).toEqual({ web: "u3@24" });
    set.changed(pi("web", "u2", 21));
    expect(served()).toEqual({ web: "u3@24" });
  });

  it("ignores a list older than one already applied", () => {
    const { set, served } = recorded();
    set.listed(list(30, pi("a", "u1", 29)));
    expect(set.listed(list(20))).toBe(false);
    expect(served()).toEqual({ a: "u1@29" });
  });

  it("applies events without a resourceVersion in the order they come", () => {
    const { set, served } = recorded();
    const bare = (uid: string) => Object.assign(new PodIndex(), { metadata: { name: "web", uid }, spec: {} });
    set.changed(bare("u1"));
    set.changed(bare("u2"));
    expect(served()).toEqual({ web: "u2@undefined" });
    set.deleted(bare("u2"));
    expect(served()).toEqual({});
  });

  /**
   * A random history of creates, updates and deletes, delivered as Pepr does (changes on one watch
   * stream, deletions on another, each in order but late with respect to each other, deletions
   * sometimes carrying the object's last version as KFC's relist does) mixed with full lists read
   * at random points and answered in any order.
   */
  it("never serves an older version, never re-serves a deleted object, forgets only the deleted, and converges", () => {
    const op = fc.record({ kind: fc.constantFrom("put", "put", "delete"), name: fc.constantFrom("a", "b", "c") });
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.array(fc.constantFrom(0, 1, 2), { maxLength: 80 }),
        fc.array(fc.boolean(), { maxLength: 30 }),
        (ops, listAt, schedule, lastSeenDeletes) => {
          // the apiserver's history
          let rv = 1;
          let uids = 0;
          const alive = new Map<string, PodIndex>();
          const snapshots: PodIndexList[] = [list(rv)];
          const changes: PodIndex[] = [];
          const deletions: PodIndex[] = [];
          const deletedAt = new Map<string, number>();
          for (const o of ops) {
            rv++;
            const cur = alive.get(o.name);
            if (o.kind === "delete") {
              if (!cur) continue;
              alive.delete(o.name);
              deletedAt.set(cur.metadata!.uid!, rv);
              const lastSeen = lastSeenDeletes[deletions.length] ?? false;
              deletions.push(lastSeen ? cur : pi(o.name, cur.metadata!.uid!, rv, cur.metadata!.generation));
            } else {
              const next = cur
                ? pi(o.name, cur.metadata!.uid!, rv, cur.metadata!.generation! + 1)
                : pi(o.name, `u${++uids}`, rv);
              alive.set(o.name, next);
              changes.push(next);
            }
            snapshots.push(list(rv, ...[...alive.values()]));
          }
          const lists = listAt.map(i => snapshots[i % snapshots.length]);

          const appliedRv = new Map<string, number>();
          const forgotten = new Set<string>();
          const served = new Map<string, PodIndex>();
          let seen = 0;
          const set = new PodIndexSet({
            apply: p => {
              const uid = p.metadata!.uid!;
              const at = Number(p.metadata!.resourceVersion);
              expect(forgotten.has(uid), `${uid} served again after it was forgotten`).toBe(false);
              expect(at, `${uid} rolled back`).toBeGreaterThan(appliedRv.get(uid) ?? 0);
              appliedRv.set(uid, at);
              served.set(p.metadata!.name!, p);
            },
            forget: name => {
              const uid = served.get(name)!.metadata!.uid!;
              expect(deletedAt.get(uid) ?? Infinity, `${uid} forgotten while it exists`).toBeLessThanOrEqual(seen);
              forgotten.add(uid);
              served.delete(name);
            },
          });
          const queues: (() => void)[][] = [
            changes.map(p => () => ((seen = Math.max(seen, Number(p.metadata!.resourceVersion))), set.changed(p))),
            deletions.map(p => () => ((seen = Math.max(seen, deletedAt.get(p.metadata!.uid!)!)), set.deleted(p))),
            lists.map(l => () => ((seen = Math.max(seen, Number(l.resourceVersion))), set.listed(l))),
          ];
          for (const q of schedule) queues[q].shift()?.();
          for (const q of queues) while (q.length) q.shift()!();
          seen = rv;
          set.listed(snapshots[snapshots.length - 1]);
          expect(new Map([...served].map(([n, p]) => [n, p.metadata!.uid]))).toEqual(
            new Map([...alive].map(([n, p]) => [n, p.metadata!.uid])),
          );
        },
      ),
      { seed: 20261201, numRuns: 500 },
    );
  });
});
