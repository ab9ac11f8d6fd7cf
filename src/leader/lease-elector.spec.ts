import { KubeConfig } from "@kubernetes/client-node";
import { createServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { kubeconfig, startApiServer, type KObject, type SimulatedApiServer } from "../../test/apiserver/server";
import { LeaseElector, type Clock, type LeaseElectorOptions } from "./lease-elector";

/** A clock that moves only when the test moves it; timers fire in time order. */
class ManualClock implements Clock {
  t = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; cb: () => void }>();
  now = () => this.t;
  setTimeout = (cb: () => void, ms: number) => {
    this.#timers.set(++this.#seq, { at: this.t + ms, cb });
    return this.#seq;
  };
  clearTimeout = (handle: unknown) => void this.#timers.delete(handle as number);
  get pending(): number {
    return this.#timers.size;
  }
  nextAt(): number | undefined {
    return Math.min(...[...this.#timers.values()].map(t => t.at));
  }
  fireDue(): void {
    const due = [...this.#timers].filter(([, t]) => t.at <= this.t).sort(([a, x], [b, y]) => x.at - y.at || a - b);
    for (const [id, t] of due) {
      this.#timers.delete(id);
      t.cb();
    }
  }
}

const body = (req: IncomingMessage) =>
  new Promise<Buffer>(resolve => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks)));
  });

/**
 * A loopback proxy in front of the simulator that can hold GETs until a number of them arrived,
 * then pass them on together: every candidate reads the same Lease before any of them writes.
 */
async function gatedProxy(target: string) {
  let want = 0;
  let held: (() => void)[] = [];
  const server = createServer(async (req, res) => {
    const payload = await body(req);
    const forward = () => {
      const up = request(target + req.url, { method: req.method, headers: req.headers }, answer => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      up.end(payload);
    };
    if (want === 0 || req.method !== "GET") return forward();
    held.push(forward);
    if (held.length < want) return;
    want = 0;
    const go = held;
    held = [];
    go.forEach(f => f());
  });
  await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** hold the next `n` GETs until all `n` arrived */
    hold: (n: number) => void (want = n),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>(r => server.close(() => r()));
    },
  };
}

const LEASE = "podindex-leader";
const NS = "pepr-system";
const ISO_MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

describe("LeaseElector on the simulated apiserver, by a manual clock", () => {
  let sim: SimulatedApiServer;
  let kc: KubeConfig;
  let clock: ManualClock;
  /** electors whose loop runs (each then holds exactly one timer between attempts) */
  let live: Set<LeaseElector>;
  let all: LeaseElector[];
  /** every onChange, with the clock's time */
  let changes: { at: number; who: string; leading: boolean }[];
  /** whether the leader must be the Lease's holder at every step (off while a test writes the Lease itself) */
  let holderChecked: boolean;

  beforeEach(async () => {
    sim = await startApiServer();
    sim.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    kc = new KubeConfig();
    kc.loadFromFile(sim.kubeconfigPath);
    clock = new ManualClock();
    live = new Set();
    all = [];
    changes = [];
    holderChecked = true;
  });
  afterEach(async () => {
    for (const e of all) e.abandon();
    await sim.close();
  });

  const elector = (identity: string, opts: Partial<LeaseElectorOptions> = {}) => {
    const e = new LeaseElector({ name: LEASE, namespace: NS, identity, kubeConfig: kc, clock, ...opts });
    e.onChange(leading => changes.push({ at: clock.t, who: identity, leading }));
    all.push(e);
    return e;
  };
  const begin = async (...es: LeaseElector[]) => {
    for (const e of es) {
      live.add(e);
      await e.start();
    }
  };
  const stop = async (e: LeaseElector) => {
    live.delete(e);
    await e.stop();
  };
  const crash = (e: LeaseElector) => {
    live.delete(e);
    e.abandon();
  };
  const lease = () => sim.get("coordination.k8s.io/v1", "Lease", LEASE, NS);
  const leaseWrites = () =>
    sim.requests.filter(
      r => r.path.startsWith(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`) && r.method !== "GET",
    );

  /** Wait (in real time) until every live elector has finished its attempt and armed its next one. */
  const settle = async () => {
    const give = Date.now() + 10_000;
    while (clock.pending !== live.size) {
      if (Date.now() > give) throw new Error(`electors did not settle: ${clock.pending} timers, ${live.size} live`);
      await new Promise(r => setImmediate(r));
    }
  };
  /** At most one elector leads, and the one that does is the Lease's holder. */
  const oneLeaderAtMost = () => {
    const leaders = all.filter(e => e.isLeader());
    expect(leaders.length, `leaders at ${clock.t} ms`).toBeLessThanOrEqual(1);
    if (leaders[0] && holderChecked) expect(lease()?.spec.holderIdentity).toBe(leaders[0].identity);
  };
  /** Move the clock to `t`, firing every timer on the way and checking the invariant at each step. */
  const advanceTo = async (t: number) => {
    for (;;) {
      await settle();
      oneLeaderAtMost();
      const next = clock.nextAt();
      if (next === undefined || next > t) {
        clock.t = t;
        return oneLeaderAtMost();
      }
      clock.t = next;
      clock.fireDue();
    }
  };
  const leader = () => all.filter(e => e.isLeader());

  it("creates the Lease when there is none and leads at once, then renews it every retryPeriod by a PUT with the version it last wrote", async () => {
    const a = elector("podindex-0_a");
    await begin(a);
    await advanceTo(0);
    expect(a.isLeader()).toBe(true);
    expect(a.holder()).toBe("podindex-0_a");
    const created = lease()!;
    expect(created.spec).toEqual({
      holderIdentity: "podindex-0_a",
      leaseDurationSeconds: 15,
      acquireTime: created.spec.acquireTime,
      renewTime: created.spec.renewTime,
      leaseTransitions: 0,
    });
    expect(created.spec.acquireTime).toMatch(ISO_MICRO);
    await advanceTo(6000);
    const writes = leaseWrites();
    expect(writes.map(w => w.method)).toEqual(["POST", "PUT", "PUT", "PUT"]);
    // each renewal carries the version the previous write produced; nothing else was read
    expect(sim.requests.filter(r => r.method === "GET")).toEqual([expect.objectContaining({ method: "GET" })]);
    const renewals = writes.slice(1).map(w => w.body as KObject);
    expect(renewals.map(r => r.metadata.resourceVersion)).toEqual([
      created.metadata.resourceVersion,
      String(Number(created.metadata.resourceVersion) + 1),
      String(Number(created.metadata.resourceVersion) + 2),
    ]);
    for (const r of renewals) {
      expect(r.spec.acquireTime).toBe(created.spec.acquireTime);
      expect(r.spec.renewTime).toMatch(ISO_MICRO);
      expect(r.spec.leaseTransitions).toBe(0);
    }
    expect(lease()!.spec.renewTime).toBe(new Date(6000).toISOString().replace("Z", "000Z"));
    expect(changes).toEqual([{ at: 0, who: "podindex-0_a", leading: true }]);
  });

  it("two electors on one Lease: exactly one leads, the other keeps waiting while it renews", async () => {
    const a = elector("podindex-0_a");
    const b = elector("podindex-1_b");
    await begin(a, b);
    await advanceTo(60_000);
    expect(leader()).toHaveLength(1);
    const [lead] = leader();
    expect(changes).toEqual([{ at: 0, who: lead.identity, leading: true }]);
    expect(b.holder()).toBe(lead.identity);
    expect(lease()!.spec.leaseTransitions).toBe(0);
  });

  it("stop() reports the loss, then releases the Lease; the other takes over within retryPeriod", async () => {
    const a = elector("podindex-0_a");
    await begin(a);
    await advanceTo(1000);
    const b = elector("podindex-1_b");
    await begin(b);
    await advanceTo(10_000);
    expect(a.isLeader()).toBe(true);
    let holderWhenTold: string | undefined;
    a.onChange(() => (holderWhenTold = lease()!.spec.holderIdentity));
    const stoppedAt = 10_000;
    await stop(a);
    // told before the release: nothing leader-only runs once the Lease is free
    expect(holderWhenTold).toBe("podindex-0_a");
    expect(lease()!.spec).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 0 });
    expect(a.isLeader()).toBe(false);
    await advanceTo(stoppedAt + 2000);
    expect(b.isLeader()).toBe(true);
    const took = changes.find(c => c.who === "podindex-1_b" && c.leading)!;
    expect(took.at - stoppedAt).toBeLessThanOrEqual(2000);
    expect(lease()!.spec).toMatchObject({
      holderIdentity: "podindex-1_b",
      leaseDurationSeconds: 15,
      leaseTransitions: 1,
    });
    expect(changes.filter(c => c.who === "podindex-0_a")).toEqual([
      { at: 0, who: "podindex-0_a", leading: true },
      { at: stoppedAt, who: "podindex-0_a", leading: false },
    ]);
  });

  it("stop() twice releases once, and an abandoned (crashed) elector releases nothing", async () => {
    const a = elector("podindex-0_a");
    const b = elector("podindex-1_b");
    await begin(a, b);
    await advanceTo(2000);
    const [lead] = leader();
    const other = lead === a ? b : a;
    live.delete(lead);
    const puts = leaseWrites().length;
    await Promise.all([lead.stop(), lead.stop()]);
    expect(leaseWrites().length).toBe(puts + 1);
    expect(lease()!.spec.holderIdentity).toBe("");
    await advanceTo(4000);
    expect(other.isLeader()).toBe(true);
    crash(other);
    const writes = leaseWrites().length;
    await other.stop();
    expect(leaseWrites().length).toBe(writes);
    expect(lease()!.spec.holderIdentity).toBe(other.identity);
    expect(changes.filter(c => c.who === other.identity)).toEqual([{ at: 4000, who: other.identity, leading: true }]);
  });

  it("a crashed leader (no release) is taken over within leaseDuration + retryPeriod of its last renewal, and not before its lease expired", async () => {
    const a = elector("podindex-0_a");
    await begin(a);
    await advanceTo(1000);
    const b = elector("podindex-1_b");
    await begin(b);
    await advanceTo(20_500);
    const lastRenewal = Date.parse(lease()!.spec.renewTime);
    expect(lastRenewal).toBe(20_000);
    crash(a);
    // B last saw the record change at 21 000; the lease is valid for it until 36 000
    await advanceTo(lastRenewal + 15_000);
    expect(b.isLeader()).toBe(false);
    expect(lease()!.spec.holderIdentity).toBe("podindex-0_a");
    await advanceTo(lastRenewal + 15_000 + 2000);
    expect(b.isLeader()).toBe(true);
    const took = changes.find(c => c.who === "podindex-1_b" && c.leading)!;
    expect(took.at - lastRenewal).toBeGreaterThanOrEqual(15_000);
    expect(took.at - lastRenewal).toBeLessThanOrEqual(15_000 + 2000);
    expect(lease()!.spec).toMatchObject({ holderIdentity: "podindex-1_b", leaseTransitions: 1 });
    expect(Date.parse(lease()!.spec.acquireTime)).toBe(took.at);
  });

  it("candidates racing on create and on takeover get 409s, and never two of them lead", async () => {
    const proxy = await gatedProxy(sim.url);
    onTestFinished(() => proxy.close());
    const proxied = new KubeConfig();
    proxied.loadFromString(kubeconfig(proxy.url));
    const es = ["podindex-0_a", "podindex-1_b", "podindex-2_c"].map(id => elector(id, { kubeConfig: proxied }));
    proxy.hold(3);
    await begin(...es);
    await advanceTo(0);
    // all three saw no Lease and created it at the same moment: one 201, two 409 AlreadyExists
    expect(leaseWrites().map(w => w.method)).toEqual(["POST", "POST", "POST"]);
    expect(leader()).toHaveLength(1);
    const [first] = leader();
    await advanceTo(4000);
    await stop(first);
    const released = lease()!.metadata.resourceVersion;
    const before = leaseWrites().length;
    proxy.hold(2);
    await advanceTo(6000);
    // both others read the released Lease and PUT on the same version: one wins, one gets 409 Conflict
    const takeovers = leaseWrites()
      .slice(before)
      .map(w => w.body as KObject);
    expect(takeovers.map(t => t.metadata.resourceVersion)).toEqual([released, released]);
    expect(leader()).toHaveLength(1);
    await advanceTo(60_000);
    expect(leader()).toHaveLength(1);
    expect(lease()!.spec.leaseTransitions).toBe(1);
  });

  it("re-reads the Lease on a 409 and steps down at once when someone else holds it", async () => {
    const a = elector("podindex-0_a");
    await begin(a);
    await advanceTo(3000);
    // another holder wrote the Lease (a replica that judged it expired, e.g. after a long pause);
    // A cannot know until its next attempt
    holderChecked = false;
    const current = lease()!;
    sim.store.update(
      sim.store.typeOf("coordination.k8s.io/v1", "Lease")!,
      NS,
      LEASE,
      cur => ({ ...cur, spec: { ...cur.spec, holderIdentity: "elsewhere", renewTime: "1970-01-01T00:00:03.000000Z" } }),
      { fieldManager: "test", operation: "Update", expectRv: current.metadata.resourceVersion },
    );
    await advanceTo(4000);
    expect(a.isLeader()).toBe(false);
    expect(a.holder()).toBe("elsewhere");
    expect(changes).toEqual([
      { at: 0, who: "podindex-0_a", leading: true },
      { at: 4000, who: "podindex-0_a", leading: false },
    ]);
    const lastTwo = sim.requests.slice(-2).map(r => r.method);
    expect(lastTwo).toEqual(["PUT", "GET"]);
    expect(lease()!.spec.holderIdentity).toBe("elsewhere");
  });

  it("steps down renewDeadline after its renew cycle began when the apiserver is gone, before the lease can expire for others", async () => {
    const a = elector("podindex-0_a");
    await begin(a);
    await advanceTo(1000);
    const b = elector("podindex-1_b");
    await begin(b);
    await advanceTo(10_500);
    expect(a.isLeader()).toBe(true);
    const lastRenewal = 10_000;
    const restore = await sim.outage();
    // the cycle after the last renewal starts at 12 000 and may last renewDeadline (10 s)
    await advanceTo(lastRenewal + 2000 + 10_000 - 1);
    expect(a.isLeader()).toBe(true);
    await advanceTo(lastRenewal + 2000 + 10_000);
    expect(a.isLeader()).toBe(false);
    expect(changes).toContainEqual({ at: lastRenewal + 2000 + 10_000, who: "podindex-0_a", leading: false });
    // others could take over from 10 000 + 15 000 at the earliest: the leader was gone before
    expect(lastRenewal + 2000 + 10_000).toBeLessThan(lastRenewal + 15_000);
    expect(b.isLeader()).toBe(false);
    await advanceTo(40_000);
    expect(leader()).toHaveLength(0);
    await restore();
    await advanceTo(44_000);
    expect(leader()).toHaveLength(1);
  });

  it("refuses settings client-go refuses, with the reason", () => {
    const make = (o: Partial<LeaseElectorOptions>) => () =>
      new LeaseElector({ name: LEASE, namespace: NS, identity: "x", kubeConfig: kc, ...o });
    expect(make({ identity: "" })).toThrow("needs a holder identity");
    expect(make({ leaseDurationSeconds: 1.5 })).toThrow("leaseDurationSeconds must be a whole number of seconds");
    expect(make({ leaseDurationSeconds: 10 })).toThrow(
      "leaseDurationSeconds (10) must be greater than renewDeadlineSeconds (10)",
    );
    expect(make({ retryPeriodSeconds: 9 })).toThrow(
      "renewDeadlineSeconds (10) must be greater than 1.2 × retryPeriodSeconds (9)",
    );
    expect(make({ retryPeriodSeconds: 0 })).toThrow("retryPeriodSeconds must be greater than zero");
  });
});
