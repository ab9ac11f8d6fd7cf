/**
 * The bench's results: their JSON shape (bench/results/latest.json), the tables and targets it
 * prints, and its SVG chart (a hand-written string: a chart this plain needs no package).
 */
import type { Latency, Paced, Throughput } from "./http-load";

export interface ContenderResult {
  /** feed: podindex's paged feed; pepr: podindex with Pepr bindings (PODINDEX_SOURCE=pepr); informer: client-node → Map → node:http; constant: a constant Fastify route */
  key: "feed" | "pepr" | "informer" | "constant";
  available: boolean;
  /** why a contender gave no figures */
  reason?: string;
  startToReadySeconds?: number;
  /** what this contender's part of the bench took, from its fork to its exit (where the run's minutes go) */
  benchSeconds?: number;
  memory?: {
    rssBytes: number;
    heapUsedBytes: number;
    maxRssBytes: number;
    /** V8's limit on its heap (a contender whose heap would pass it at the next size is not run there) */
    heapLimitBytes: number;
    rssPerPodBytes: number;
    heapPerPodBytes: number;
  };
  lookup?: {
    sequential: Latency;
    concurrent: Throughput;
    /**
     * the constant route, loaded in turn with this contender in rounds of a second or less
     * (http-load's `paired`): its answers, and the median of this contender's answers a second ÷
     * the constant route's in the same round (each round's in `ratios`, in the order they ran)
     */
    constant?: { concurrent: Throughput; ratio: number; rounds: number; ratios: number[] };
  };
  underLoad?: {
    updatesPerSecond: number;
    /** paced: `perSecond` lookups (and as many forward-auth checks), each timed from when it was sent */
    lookup: Paced;
    forwardAuth?: Paced;
    /** over the phase, from podindex's lag histogram (interpolated within its bucket) */
    eventLoopLagP99Ms?: number;
    /** the largest of the per-second scrapes' 0.99 quantiles */
    eventLoopLagWorstSecondP99Ms?: number;
    /** the largest lag sample of the phase (the quantile 1 of every scrape, the last included) */
    eventLoopLagMaxMs?: number;
    /**
     * the bench process's own event-loop lag over the phase (p99, max): the clients time every
     * request on that loop, so a late client inflates the latencies it reports
     */
    clientLagMs?: { p99: number; max: number };
    metricsScrapeMs?: { p50: number; max: number };
    /**
     * CPU the phase took, in cores (CPU seconds a second): the contender's process, the simulated
     * cluster's, the bench's own (the clients), the whole machine's (every process, out of
     * `machineCores`), and what the hypervisor gave to other machines meanwhile (steal)
     */
    cpuCores?: {
      contender: number;
      cluster: number;
      client: number;
      machine: number;
      stolen: number;
      machineCores: number;
    };
  };
  writeToLookup?: Latency;
  /** the same writes → their event on a watch of the bench's own: the simulator's part */
  writeToWatch?: Latency;
  /** one lookup answer, as served */
  sampleAnswer?: string;
}

export interface SizeResult {
  pods: number;
  namespaces: number;
  slices: number;
  podBytes: { min: number; mean: number; max: number };
  seedSeconds: number;
  /** what this size took in all: seeding, the reference list, every contender */
  seconds?: number;
  /** the simulator serving, and the bench parsing, the whole pod list in pages */
  pagedList: { seconds: number; bytes: number; pageSize: number };
  contenders: ContenderResult[];
  /** 1-minute load average when the size started and ended (other work on the machine skews figures) */
  loadAverage: { before: number; after: number };
  /** the share of the machine's CPU time the hypervisor gave to others (steal) while this size ran */
  cpuStealShare?: number;
  /** the CPUs the simulated cluster's process could run on (read from /proc) */
  clusterCpus?: number[];
}

export interface BenchResults {
  date: string;
  machine: { nproc: number; cpuModel: string; memoryBytes: number; node: string; platform: string };
  /** BENCH_PLACEMENT: the one CPU the simulated cluster was started on (the others ran on any), or none set (shared) */
  placement: { mode: "pinned-cluster" | "shared"; clusterCpu?: number };
  /** BENCH_SIZES; `sizes` holds those measured so far (complete: all of them) */
  requestedSizes: number[];
  complete: boolean;
  sizes: SizeResult[];
  totalSeconds: number;
}

const TITLES: Record<ContenderResult["key"], string> = {
  feed: "podindex (feed)",
  pepr: "podindex (pepr)",
  informer: "informer",
  constant: "constant route",
};

const f1 = (n: number | undefined, digits = 2) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(digits));
const kib = (b: number | undefined) => (b === undefined ? "–" : `${(b / 1024).toFixed(1)} KiB`);
const mib = (b: number | undefined) => (b === undefined ? "–" : `${(b / 1024 / 1024).toFixed(0)} MiB`);
const pair = (l: Latency | undefined) => (l ? `${f1(l.p50Ms)} / ${f1(l.p99Ms)}` : "–");
// a contender that answered nothing reads 0.00, not "–" (which says it was not measured)
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || !b || !Number.isFinite(a / b) ? "–" : (a / b).toFixed(2);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map(r => r[c].length)));
  const line = (cells: string[]) => `| ${cells.map((x, c) => x.padEnd(widths[c])).join(" | ")} |`;
  return [line(header), `|${widths.map(w => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

const byKey = (s: SizeResult, key: ContenderResult["key"]) => s.contenders.find(c => c.key === key && c.available);

/** A contender's answers a second ÷ the constant route's, measured in the same rounds (1 for the constant route). */
export const perConstant = (c: ContenderResult | undefined): number | undefined =>
  c?.key === "constant" ? 1 : c?.lookup?.constant?.ratio;

/** One size's figures, a column per contender. */
export function sizeTable(s: SizeResult): string {
  const cs = s.contenders;
  const constant = byKey(s, "constant")?.lookup;
  const informer = byKey(s, "informer");
  const col = (get: (c: ContenderResult) => string) => cs.map(c => (c.available ? get(c) : "n/a"));
  const rate = cs.find(c => c.underLoad)?.underLoad?.lookup.perSecond ?? "–";
  const rows: [string, ...string[]][] = [
    ["start to ready (s)", ...col(c => f1(c.startToReadySeconds))],
    ["RSS at the end of its run, after GC", ...col(c => mib(c.memory?.rssBytes))],
    [
      "RSS / heap per pod",
      ...col(c => (c.memory ? `${kib(c.memory.rssPerPodBytes)} / ${kib(c.memory.heapPerPodBytes)}` : "–")),
    ],
    ["peak RSS", ...col(c => mib(c.memory?.maxRssBytes))],
    ["lookup p50 / p99, sequential (ms)", ...col(c => pair(c.lookup?.sequential))],
    [`lookups/s, ${constant?.concurrent.clients ?? 16} concurrent`, ...col(c => f1(c.lookup?.concurrent.perSecond, 0))],
    ["  ÷ constant route, in the same rounds", ...col(c => ratio(perConstant(c), 1))],
    ["  ÷ informer (each ÷ the constant route)", ...col(c => ratio(perConstant(c), perConstant(informer)))],
    [`lookup p50 / p99 under 1k updates/s, ${rate}/s (ms)`, ...col(c => pair(c.underLoad?.lookup))],
    [`forward-auth p50 / p99 under load, ${rate}/s (ms)`, ...col(c => pair(c.underLoad?.forwardAuth))],
    [
      "event-loop lag p99 / worst second's p99 / max under load (ms)",
      ...col(c =>
        c.underLoad?.eventLoopLagP99Ms !== undefined
          ? `${f1(c.underLoad.eventLoopLagP99Ms)} / ${f1(c.underLoad.eventLoopLagWorstSecondP99Ms)} / ${f1(c.underLoad.eventLoopLagMaxMs)}`
          : "–",
      ),
    ],
    [
      "clients' own event-loop lag p99 / max under load (ms)",
      ...col(c =>
        c.underLoad?.clientLagMs ? `${f1(c.underLoad.clientLagMs.p99)} / ${f1(c.underLoad.clientLagMs.max)}` : "–",
      ),
    ],
    [
      "/metrics scrape p50 / max (ms)",
      ...col(c =>
        c.underLoad?.metricsScrapeMs
          ? `${f1(c.underLoad.metricsScrapeMs.p50)} / ${f1(c.underLoad.metricsScrapeMs.max)}`
          : "–",
      ),
    ],
    [
      "CPU under load: contender / cluster / clients / machine, stolen (cores)",
      ...col(c => {
        const u = c.underLoad?.cpuCores;
        return u
          ? `${[u.contender, u.cluster, u.client].map(x => x.toFixed(2)).join(" / ")} / ${u.machine.toFixed(2)} of ${u.machineCores}, ${u.stolen.toFixed(2)}`
          : "–";
      }),
    ],
    ["API write → lookup p50 / p99 (ms)", ...col(c => pair(c.writeToLookup))],
    ["API write → the simulator's watch event p50 / p99 (ms)", ...col(c => pair(c.writeToWatch))],
    // a contender that was not available took time too (a time-out)
    ["its part of the bench (s)", ...cs.map(c => f1(c.benchSeconds, 1))],
  ];
  return table(["figure", ...cs.map(c => TITLES[c.key])], rows);
}

export interface Target {
  figure: string;
  target: string;
  /** per podindex source: the value shown, and whether it meets the target (undefined: not measured) */
  values: Partial<Record<"feed" | "pepr", { shown: string; met?: boolean }>>;
}

/** Issue 12's targets, judged at the largest size (lookup cost: largest ÷ smallest). */
export function targets(r: BenchResults): Target[] {
  const big = r.sizes[r.sizes.length - 1];
  const small = r.sizes[0];
  const judge = (
    get: (c: ContenderResult) => number | undefined,
    ok: (v: number) => boolean | undefined,
    show: (v: number) => string,
  ): Target["values"] => {
    const out: Target["values"] = {};
    for (const key of ["feed", "pepr"] as const) {
      const c = byKey(big, key);
      const v = c && get(c);
      out[key] =
        c === undefined
          ? { shown: "n/a" }
          : v === undefined || Number.isNaN(v)
            ? { shown: "–" }
            : { shown: show(v), met: ok(v) };
    }
    return out;
  };
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const informer = perConstant(byKey(big, "informer"));
  // a lookup's cost at a size: the constant route's answers a second ÷ the contender's, in the same rounds
  const cost = (s: SizeResult, key: "feed" | "pepr") => {
    const r = perConstant(byKey(s, key));
    return r ? 1 / r : undefined;
  };
  return [
    {
      figure: "start to ready",
      target: `≤ 1.3× the simulator's paged list (${big.pagedList.seconds.toFixed(2)} s)`,
      values: judge(
        c => c.startToReadySeconds! / big.pagedList.seconds,
        v => v <= 1.3,
        v => `${v.toFixed(2)}×`,
      ),
    },
    {
      figure: "whole process",
      target: "< 4 KB RSS per pod",
      values: judge(
        c => c.memory?.rssPerPodBytes,
        v => v < 4096,
        v => `${(v / 1024).toFixed(2)} KiB`,
      ),
    },
    {
      figure: "lookups/s",
      target: "≥ the informer's and ≥ 0.85× the constant Fastify route",
      // both halves are judged on ratios to the constant route measured in the same rounds
      values: judge(
        c => perConstant(c),
        v => ((informer !== undefined && v < informer) || v < 0.85 ? false : informer === undefined ? undefined : true),
        v => `${ratio(v, informer)}× informer, ${v.toFixed(2)}× constant`,
      ),
    },
    {
      figure: "sequential lookup p99",
      target: "< 1 ms",
      values: judge(
        c => c.lookup?.sequential.p99Ms,
        v => v < 1,
        ms,
      ),
    },
    {
      figure: "forward-auth p99 with scrapes and 1k updates/s",
      target: "< 5 ms",
      values: judge(
        c => c.underLoad?.forwardAuth?.p99Ms,
        v => v < 5,
        ms,
      ),
    },
    {
      figure: "event-loop lag p99",
      target: "< 10 ms",
      values: judge(
        c => c.underLoad?.eventLoopLagP99Ms,
        v => v < 10,
        ms,
      ),
    },
    {
      figure: "API write → lookup p99",
      target: "< 20 ms",
      values: judge(
        c => c.writeToLookup?.p99Ms,
        v => v < 20,
        ms,
      ),
    },
    {
      figure: `lookup cost ${big.pods / 1000}k ÷ ${small.pods / 1000}k`,
      target: "≤ 1.2",
      values: judge(
        c => {
          const [a, b] = [cost(big, c.key as "feed"), cost(small, c.key as "feed")];
          return a && b && big !== small ? a / b : undefined;
        },
        v => v <= 1.2,
        v => v.toFixed(2),
      ),
    },
  ];
}

export function targetsTable(r: BenchResults): string {
  const mark = (v: { shown: string; met?: boolean } | undefined) =>
    v === undefined ? "–" : v.met === undefined ? v.shown : `${v.shown} ${v.met ? "met" : "NOT met"}`;
  const big = r.sizes[r.sizes.length - 1].pods;
  return table(
    ["figure", "target", `podindex (feed), ${big} pods`, `podindex (pepr), ${big} pods`],
    targets(r).map(t => [t.figure, t.target, mark(t.values.feed), mark(t.values.pepr)]),
  );
}

/** where the processes ran, in words */
export const placementText = (p: BenchResults["placement"] | undefined) =>
  p?.mode === "pinned-cluster"
    ? `the cluster on CPU ${p.clusterCpu} alone, contenders and clients on any`
    : "cluster, contenders and clients on any CPU";

export function printResults(r: BenchResults): void {
  const m = r.machine;
  console.log(
    `\nmachine: ${m.nproc} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, node ${m.node}, ${m.platform}; ${placementText(r.placement)}`,
  );
  for (const s of r.sizes) {
    console.log(
      `\n${s.pods} pods (${s.podBytes.mean} B of JSON each, ${s.slices} EndpointSlices); the simulator's paged list: ${s.pagedList.seconds.toFixed(2)} s; seeded in ${s.seedSeconds.toFixed(1)} s${s.seconds === undefined ? "" : `, ${s.seconds.toFixed(0)} s in all`}; load average ${s.loadAverage.before.toFixed(1)} → ${s.loadAverage.after.toFixed(1)}${s.cpuStealShare === undefined ? "" : `; CPU stolen by the hypervisor ${(s.cpuStealShare * 100).toFixed(1)} %`}`,
    );
    console.log(sizeTable(s));
    for (const c of s.contenders) if (!c.available) console.log(`  ${TITLES[c.key]}: not available: ${c.reason}`);
  }
  console.log(`\ntargets (issue 12):\n${targetsTable(r)}`);
}

const COLORS: Record<ContenderResult["key"] | "list", string> = {
  feed: "#1f77b4",
  pepr: "#9467bd",
  informer: "#ff7f0e",
  constant: "#7f7f7f",
  list: "#2ca02c",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

interface Panel {
  title: string;
  /** bars of one size: label, value, colour key; a missing value is drawn as "n/a" */
  bars: (s: SizeResult) => { key: keyof typeof COLORS; value?: number }[];
  format: (v: number) => string;
}

/** Four panels (start to ready, RSS per pod, lookups/s, write → lookup p99), a group of bars per size, each group scaled to its tallest bar. */
export function chartSvg(r: BenchResults): string {
  const c = (s: SizeResult, key: ContenderResult["key"]) => s.contenders.find(x => x.key === key);
  const trio = (get: (x: ContenderResult) => number | undefined) => (s: SizeResult) =>
    (["feed", "pepr", "informer"] as const).map(key => {
      const x = c(s, key);
      return { key, value: x?.available ? get(x) : undefined };
    });
  const panels: Panel[] = [
    {
      title: "start to ready (s); green: the simulator's paged list",
      bars: s => [...trio(x => x.startToReadySeconds)(s), { key: "list", value: s.pagedList.seconds }],
      format: v => v.toFixed(v < 10 ? 2 : 1),
    },
    {
      title: "RSS per pod after sync (KiB)",
      bars: trio(x => x.memory && x.memory.rssPerPodBytes / 1024),
      format: v => v.toFixed(1),
    },
    {
      title: "lookups/s, 16 concurrent clients; grey: constant Fastify route",
      bars: s => [
        ...trio(x => x.lookup?.concurrent.perSecond)(s),
        { key: "constant", value: c(s, "constant")?.lookup?.concurrent.perSecond },
      ],
      format: v => v.toFixed(0),
    },
    { title: "API write → lookup p99 (ms)", bars: trio(x => x.writeToLookup?.p99Ms), format: v => v.toFixed(1) },
  ];
  const bar = 26;
  const gap = 30;
  const groupWidth = (n: number) => n * bar + gap;
  const panelWidth = Math.max(...panels.map(p => r.sizes.reduce((w, s) => w + groupWidth(p.bars(s).length), 0))) + 40;
  const height = 150;
  const top = 60;
  const parts: string[] = [];
  const width = Math.max(2 * panelWidth + 40, 20 + 5 * 170);
  panels.forEach((p, n) => {
    const x0 = 20 + (n % 2) * panelWidth;
    const y0 = top + Math.floor(n / 2) * (height + 70);
    parts.push(`<text x="${x0}" y="${y0 - 8}" font-size="12" font-weight="bold">${esc(p.title)}</text>`);
    let x = x0;
    for (const s of r.sizes) {
      const bars = p.bars(s);
      const max = Math.max(...bars.map(b => b.value ?? 0)) || 1;
      bars.forEach((b, k) => {
        const bx = x + k * bar;
        if (b.value === undefined) {
          parts.push(`<text x="${bx + bar / 2}" y="${y0 + height - 4}" font-size="9" text-anchor="middle">n/a</text>`);
          return;
        }
        const h = (b.value / max) * (height - 20);
        parts.push(
          `<rect x="${bx + 2}" y="${(y0 + height - h).toFixed(1)}" width="${bar - 4}" height="${h.toFixed(1)}" fill="${COLORS[b.key]}"/>`,
          `<text x="${bx + bar / 2}" y="${(y0 + height - h - 3).toFixed(1)}" font-size="8" text-anchor="middle">${esc(p.format(b.value))}</text>`,
        );
      });
      parts.push(
        `<text x="${x + (bars.length * bar) / 2}" y="${y0 + height + 14}" font-size="10" text-anchor="middle">${s.pods >= 1000 ? `${s.pods / 1000}k` : s.pods} pods</text>`,
      );
      x += groupWidth(bars.length);
    }
    parts.push(`<line x1="${x0}" y1="${y0 + height}" x2="${x - gap}" y2="${y0 + height}" stroke="#333"/>`);
  });
  const legend = (["feed", "pepr", "informer", "constant", "list"] as const)
    .map((key, k) => {
      const label = key === "list" ? "simulator's paged list" : TITLES[key];
      return `<rect x="${20 + k * 170}" y="14" width="12" height="12" fill="${COLORS[key]}"/><text x="${36 + k * 170}" y="24" font-size="11">${esc(label)}</text>`;
    })
    .join("");
  const m = r.machine;
  const footer = `${esc(m.cpuModel)}, ${m.nproc} cores, node ${m.node}, ${r.date.slice(0, 10)}; ${placementText(r.placement)}; each group scaled to its tallest bar`;
  const total = top + 2 * (height + 70);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" viewBox="0 0 ${width} ${total}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    legend,
    ...parts,
    `<text x="20" y="${total - 10}" font-size="10" fill="#555">${footer}</text>`,
    "</svg>",
    "",
  ].join("\n");
}
