import { KubeConfig } from "@kubernetes/client-node";
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { UNREAD_POD_ARRAYS, type PodLike } from "../cache/pod-record";
import { isOlder } from "../cache/resource-version";
import type { SliceLike } from "../endpoints/slice-record";
import { Backoff, type BackoffOptions } from "./backoff";
import { ArrayCut, isJsonSpace } from "./array-cut";
import type { FeedHandlers, FeedPhase, ObjectFeed } from "./object-feed";

/** The metadata a feed needs to track an object (every Kubernetes object has it). */
export interface Tracked {
  metadata?: { uid?: string; name?: string; namespace?: string; resourceVersion?: string };
}

/** A Kubernetes Status the apiserver answered with (an HTTP error, or a watch ERROR event). */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** what the server asked the client to wait (Retry-After, or the Status' details.retryAfterSeconds) */
    readonly retryAfterMs = 0,
  ) {
    super(message);
    this.name = "ApiStatusError";
  }
}

interface Status {
  code?: number;
  message?: string;
  details?: { retryAfterSeconds?: number };
}

function statusError(code: number, body: string, retryAfter?: string): ApiStatusError {
  let status: Status = {};
  try {
    status = JSON.parse(body) as Status;
  } catch {
    /* not a Status (e.g. a proxy's text page): the text is the message */
  }
  const message = `${code} ${status.message ?? body.trim()}`;
  const seconds = /^\d+$/.test(retryAfter ?? "") ? Number(retryAfter) : (status.details?.retryAfterSeconds ?? 0);
  return new ApiStatusError(code, message, seconds * 1000);
}

const isGone = (err: unknown) => err instanceof ApiStatusError && err.code === 410;

interface Known {
  rv: string;
  name?: string;
  namespace?: string;
}

/** how far into a list's JSON its metadata (with the continue token) must end, for it to be read early */
const HEAD_BYTES = 4096;

/**
 * A list page's continue token, read from the head of its JSON (kube-apiserver writes kind,
 * apiVersion and metadata before items), without parsing the items. Undefined when the head says
 * nothing (the last page), or is not in that shape.
 */
export function continueOf(body: string): string | undefined {
  const items = body.slice(0, HEAD_BYTES).search(/,\s*"items"\s*:/);
  if (items < 0) return undefined;
  try {
    const head = JSON.parse(`${body.slice(0, items)}}`) as ListPage<unknown>;
    return head.metadata?.continue || undefined;
  } catch {
    return undefined;
  }
}

interface ListPage<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

export interface PagedFeedOptions {
  /** the collection, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/endpointslices */
  path: string;
  /** items per list page (the apiserver's `limit`); default 100 (why: docs/operations.md, "The watch path") */
  pageSize?: number;
  /** the watch's timeoutSeconds: the apiserver ends it after this and the feed resumes from its resourceVersion; default 300 */
  watchSeconds?: number;
  /**
   * a watch that delivers no line (event or bookmark) for this long (ms) is presumed dead (a
   * half-open connection, a stuck proxy) and resumed; default 90 000: kube-apiserver sends a
   * bookmark about every 60 s, so a healthy idle watch is never cut
   */
  idleTimeoutMs?: number;
  /** a list page not fully answered within this (ms) is abandoned and retried; default 60 000 */
  requestTimeoutMs?: number;
  /** a watch that ends sooner than this (ms) with nothing delivered counts as a failure (client-go: 1 s); default 1000 */
  minWatchMs?: number;
  /** how many times one list restarts paged after its continue token expired before it lists unpaged; default 2 */
  pagedRestarts?: number;
  /**
   * watch lines are handled in slices of at most this long (ms), the event loop free in between; default 4.
   * A socket read can hand over megabytes at once (libuv reads up to 32 × 64 KB in one go) and a
   * 16 KB pod takes ~0.3 ms to parse whole: handled in one go, such a burst held lookups for 40–150 ms.
   */
  lineSliceMs?: number;
  /**
   * keys of arrays the consumer never reads, emptied in the JSON before it is parsed (see
   * array-cut.ts); default `managedFields`, which no consumer of an object's state needs
   */
  unreadArrays?: readonly string[];
  /** waits between failures; see Backoff (default 0.8 s doubling to 30 s, reset after 2 min) */
  backoff?: BackoffOptions;
  kubeConfig?: KubeConfig;
}

type Settings = Required<Omit<PagedFeedOptions, "kubeConfig" | "backoff" | "unreadArrays">>;

const NEWLINE = 0x0a;

/** The bytes without leading and trailing whitespace (a view, not a copy). */
function trimmed(b: Buffer): Buffer {
  let start = 0;
  let end = b.length;
  while (start < end && isJsonSpace(b[start])) start++;
  while (end > start && isJsonSpace(b[end - 1])) end--;
  return b.subarray(start, end);
}

/** TCP keep-alive probes after this long idle (ms): a dead peer is noticed even on a quiet socket. */
const KEEPALIVE_MS = 30_000;

/** lines waiting past this: the socket is paused until half of them are handled (the server holds the rest) */
const MAX_QUEUED_LINES = 2000;

/**
 * An ObjectFeed that lists in pages (`limit` + `continue`) and watches with bookmarks, keeping
 * client-go's Reflector contract:
 * - it remembers only each object's uid, name, namespace and resourceVersion (the consumer keeps
 *   what it needs), and passes on only states newer than those; deletions are computed only after
 *   a complete list, against what it remembers;
 * - it keeps the newest resourceVersion from events and bookmarks and resumes the watch from it
 *   after any failure; a 410 relists; an expired continue token restarts the list;
 * - failures back off exponentially with jitter, honouring Retry-After; a silent watch is cut after
 *   idleTimeoutMs; stop() aborts everything, and nothing is delivered after it returns.
 * Objects arrive with the arrays named in unreadArrays emptied, cut from the JSON before it is parsed.
 */
export class PagedFeed<T extends Tracked> implements ObjectFeed<T> {
  readonly #known = new Map<string, Known>();
  readonly #opts: Settings;
  readonly #kc: KubeConfig;
  readonly #backoff: Backoff;
  readonly #cut: ArrayCut;
  readonly #abort = new AbortController();
  /** the newest resourceVersion seen (list, event or bookmark); undefined: (re)list first */
  #rv: string | undefined;
  /** an error was reported and the stream has not proved itself since */
  #failing = false;

  constructor(opts: PagedFeedOptions) {
    const { kubeConfig, backoff, unreadArrays = ["managedFields"], ...rest } = opts;
    this.#cut = new ArrayCut(unreadArrays);
    this.#opts = {
      pageSize: 100,
      watchSeconds: 300,
      idleTimeoutMs: 90_000,
      requestTimeoutMs: 60_000,
      minWatchMs: 1000,
      pagedRestarts: 2,
      lineSliceMs: 4,
      ...rest,
    };
    this.#backoff = new Backoff(backoff);
    this.#kc = kubeConfig ?? kubeConfigFromDefault();
  }

  async start(h: FeedHandlers<T>): Promise<void> {
    void this.#run(h);
  }

  /** Abort the request in flight and every wait: no event is delivered and no request opened after this. */
  stop(): void {
    this.#abort.abort();
  }

  get #stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  async #run(h: FeedHandlers<T>): Promise<void> {
    let synced = false;
    while (!this.#stopped) {
      try {
        if (this.#rv === undefined) {
          await this.#list(h);
          if (this.#stopped) return;
          if (!synced) {
            synced = true;
            h.onSynced();
          }
        }
        await this.#watch(h);
        // the server ended a healthy watch (its timeoutSeconds): resume at once
      } catch (err) {
        if (this.#stopped) return;
        // 410: the version is gone from the server's history; relist (backed off too, as client-go does)
        if (isGone(err)) this.#rv = undefined;
        else {
          this.#failing = true;
          h.onError(err);
        }
        const wait = this.#backoff.next(err instanceof ApiStatusError ? err.retryAfterMs : 0);
        await sleep(wait, undefined, { signal: this.#abort.signal }).catch(() => undefined);
      }
    }
  }

  /**
   * List every page, passing on what is newer than what is known; only once the list is complete,
   * report what vanished (DELETED). A continue token that expired mid-list restarts the list
   * (after `pagedRestarts` such restarts, unpaged). Sets the resourceVersion to watch from.
   */
  async #list(h: FeedHandlers<T>): Promise<void> {
    for (let restarts = 0; ; restarts++) {
      const paged = restarts <= this.#opts.pagedRestarts;
      const seen = new Set<string>();
      let token: string | undefined;
      let rv = "";
      const pageOf = (continueToken?: string, onSent?: () => void) => {
        const query = new URLSearchParams(paged ? { limit: String(this.#opts.pageSize) } : {});
        if (continueToken) query.set("continue", continueToken);
        return this.#get(`${this.#opts.path}?${query}`, onSent);
      };
      // the next page, asked for before this one is parsed, so the apiserver serves it meanwhile
      let ahead: { token: string; body: Promise<string> } | undefined;
      try {
        do {
          const body = await (ahead && ahead.token === token ? ahead.body : pageOf(token));
          if (this.#stopped) return;
          const next = continueOf(body);
          ahead = undefined;
          if (next) {
            let sent = () => {};
            const sending = new Promise<void>(r => (sent = r));
            ahead = { token: next, body: pageOf(next, sent) };
            ahead.body.then(sent, sent); // awaited on the next turn, or dropped with the list
            await sending; // on the wire before this page's parse holds the loop
            if (this.#stopped) return;
          }
          const page = JSON.parse(this.#cut.apply(body)) as ListPage<T>;
          for (const item of page.items ?? []) {
            const uid = item.metadata?.uid;
            if (uid) seen.add(uid);
            this.#deliver(h, uid && this.#known.has(uid) ? "MODIFIED" : "ADDED", item);
          }
          if (this.#stopped) return;
          rv = page.metadata?.resourceVersion ?? rv;
          token = page.metadata?.continue || undefined;
        } while (token);
      } catch (err) {
        if (token !== undefined && isGone(err)) continue; // the continue token expired: list again
        throw err;
      }
      for (const [uid, k] of [...this.#known]) {
        if (seen.has(uid)) continue;
        this.#deliver(h, "DELETED", {
          metadata: { uid, name: k.name, namespace: k.namespace, resourceVersion: k.rv },
        } as T);
      }
      if (this.#stopped) return;
      this.#rv = rv;
      this.#proved(h);
      return;
    }
  }

  /** Watch from the newest resourceVersion until the server ends the stream. */
  async #watch(h: FeedHandlers<T>): Promise<void> {
    const query = new URLSearchParams({
      watch: "1",
      resourceVersion: this.#rv!,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(this.#opts.watchSeconds),
    });
    const opened = performance.now();
    let lines = 0;
    // a watch proves the stream back once it delivers a line or stays open minWatchMs
    let healthy: NodeJS.Timeout | undefined;
    try {
      await this.#request(`${this.#opts.path}?${query}`, {
        idleMs: this.#opts.idleTimeoutMs,
        onOpen: () => (healthy = setTimeout(() => this.#recovered(h), this.#opts.minWatchMs)),
        onLine: line => {
          lines++;
          this.#onWatchLine(h, line);
        },
      });
    } finally {
      clearTimeout(healthy);
    }
    if (lines === 0 && performance.now() - opened < this.#opts.minWatchMs)
      throw new Error(`the ${this.#opts.path} watch ended at once with nothing delivered`);
  }

  #onWatchLine(h: FeedHandlers<T>, line: Buffer): void {
    const event = JSON.parse(this.#cut.applyToBytes(line)) as { type: string; object: T & Status };
    if (event.type === "ERROR") {
      const s = event.object;
      throw new ApiStatusError(
        s.code ?? 500,
        `watch: ${s.code} ${s.message}`,
        (s.details?.retryAfterSeconds ?? 0) * 1000,
      );
    }
    const rv = event.object?.metadata?.resourceVersion;
    if (event.type === "BOOKMARK") {
      if (rv && !isOlder(rv, this.#rv!)) this.#rv = rv;
      this.#proved(h);
      return;
    }
    if (event.type !== "ADDED" && event.type !== "MODIFIED" && event.type !== "DELETED") return;
    // one stream is in resourceVersion order: anything not newer than the newest seen is a replay
    if (rv && (rv === this.#rv || isOlder(rv, this.#rv!))) return;
    if (rv) this.#rv = rv;
    this.#deliver(h, event.type, event.object);
    this.#proved(h);
  }

  /** Pass on one object's change unless it is not newer than what is known; a throwing consumer skips it. */
  #deliver(h: FeedHandlers<T>, phase: FeedPhase, obj: T): void {
    if (this.#stopped) return;
    const m = obj.metadata ?? {};
    const uid = m.uid;
    if (!uid) return h.onSkipped?.(phase, obj, new Error("the object has no metadata.uid"));
    const rv = m.resourceVersion ?? "";
    // a deletion is final (UIDs are never reused), whatever version it carries
    if (phase === "DELETED") this.#known.delete(uid);
    else {
      const held = this.#known.get(uid);
      if (held && (held.rv === rv || isOlder(rv, held.rv))) return;
      this.#known.set(uid, { rv, name: m.name, namespace: m.namespace });
    }
    try {
      h.onEvent(phase, obj);
    } catch (err) {
      // counted as seen: the object is not redelivered until it changes again
      h.onSkipped?.(phase, obj, err);
    }
  }

  /** The apiserver proved the stream current (a completed list, an event, a bookmark). */
  #proved(h: FeedHandlers<T>): void {
    if (this.#stopped) return;
    this.#recovered(h);
    h.onFresh?.();
  }

  #recovered(h: FeedHandlers<T>): void {
    if (!this.#failing || this.#stopped) return;
    this.#failing = false;
    h.onRecovered?.();
  }

  /**
   * One GET's body; `onSent` is called once the request is written. Read as text: joining a list
   * page's bytes instead (a 1.6 MB Buffer a page, outside V8's heap) left 46 MiB more RSS after a
   * list of 100k realistic pods, memory malloc kept.
   */
  async #get(path: string, onSent?: () => void): Promise<string> {
    let body = "";
    await this.#request(path, { totalMs: this.#opts.requestTimeoutMs, onChunk: chunk => (body += chunk), onSent });
    return body;
  }

  /**
   * One GET, aborted by stop(). A 2xx body is handed over line by line (or chunk by chunk); anything
   * else, a reset, a body cut short, a total time over `totalMs` or no line for `idleMs` rejects.
   */
  async #request(
    path: string,
    on: {
      onLine?: (line: Buffer) => void;
      onChunk?: (chunk: string) => void;
      onOpen?: () => void;
      onSent?: () => void;
      totalMs?: number;
      idleMs?: number;
    },
  ): Promise<void> {
    if (this.#stopped) return;
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error("no current cluster in the kubeconfig");
    const url = new URL(path, cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
    const opts: https.RequestOptions = { headers: { accept: "application/json" } };
    await this.#kc.applyToHTTPSOptions(opts);
    if (this.#stopped) return;
    const transport = url.protocol === "https:" ? https : http;
    const what = `GET ${url.pathname}${url.search.includes("watch=") ? " (watch)" : ""}`;
    return new Promise<void>((resolve, reject) => {
      let total: NodeJS.Timeout | undefined;
      let idle: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(total);
        clearTimeout(idle);
        this.#abort.signal.removeEventListener("abort", onAbort);
        if (err === undefined || this.#stopped) resolve();
        else {
          req.destroy();
          reject(err);
        }
      };
      const onAbort = () => {
        req.destroy();
        settle();
      };
      const armIdle = () => {
        if (on.idleMs === undefined) return;
        clearTimeout(idle);
        idle = setTimeout(() => settle(new Error(`${what}: nothing received for ${on.idleMs} ms`)), on.idleMs);
      };
      const req = transport.request(url, { ...opts, method: "GET" }, res => {
        const code = res.statusCode ?? 0;
        if (code >= 300) {
          const text: Buffer[] = [];
          res.on("data", (c: Buffer) => text.push(c));
          res.on("end", () => settle(statusError(code, Buffer.concat(text).toString(), res.headers["retry-after"])));
          res.on("error", settle);
          return;
        }
        on.onOpen?.();
        if (on.onChunk) res.setEncoding("utf8"); // a body as text; watch lines as bytes
        // the start of a line whose end has not come yet (kept as bytes: a line is cut and decoded once it is whole)
        let partial: Buffer[] = [];
        // received lines not yet handled, oldest at `head`; handled in time slices (lineSliceMs)
        let queue: Buffer[] = [];
        let head = 0;
        let scheduled = false;
        let ended = false;
        const finish = () =>
          settle(
            partial.some(p => trimmed(p).length > 0)
              ? new Error(`${what}: the stream ended in the middle of a line`)
              : undefined,
          );
        const drain = () => {
          scheduled = false;
          const until = performance.now() + this.#opts.lineSliceMs;
          try {
            while (!settled && head < queue.length) {
              on.onLine!(queue[head++]);
              if (performance.now() >= until) break;
            }
          } catch (err) {
            return settle(err);
          }
          if (settled) return;
          if (head < queue.length) {
            scheduled = true;
            setImmediate(drain);
            if (queue.length - head < MAX_QUEUED_LINES / 2 && res.isPaused()) res.resume();
            return;
          }
          [queue, head] = [[], 0];
          if (ended) finish();
          else if (res.isPaused()) res.resume();
        };
        res.on("data", (chunk: Buffer | string) => {
          if (settled) return;
          try {
            if (typeof chunk === "string") return on.onChunk!(chunk);
            let from = 0;
            for (let nl = chunk.indexOf(NEWLINE); nl >= 0; from = nl + 1, nl = chunk.indexOf(NEWLINE, from)) {
              const end = chunk.subarray(from, nl);
              const line = trimmed(partial.length ? Buffer.concat([...partial, end]) : end);
              partial = [];
              if (line.length === 0) continue;
              armIdle();
              queue.push(line);
            }
            if (from < chunk.length) partial.push(chunk.subarray(from));
            if (!scheduled && head < queue.length) {
              scheduled = true;
              setImmediate(drain);
            }
            if (queue.length - head >= MAX_QUEUED_LINES) res.pause();
          } catch (err) {
            settle(err);
          }
        });
        res.on("end", () => {
          ended = true;
          if (!scheduled) finish();
        });
        res.on("error", err => settle(new Error(`${what}: the connection was cut (${err.message})`, { cause: err })));
      });
      req.on("socket", socket => socket.setKeepAlive(true, KEEPALIVE_MS));
      if (on.onSent) req.on("finish", on.onSent);
      // the request's own errors (refused, reset before or during the answer) name the request too
      req.on("error", err => settle(new Error(`${what}: ${err.message}`, { cause: err })));
      if (on.totalMs !== undefined)
        total = setTimeout(() => settle(new Error(`${what}: no full answer within ${on.totalMs} ms`)), on.totalMs);
      armIdle();
      this.#abort.signal.addEventListener("abort", onAbort, { once: true });
      req.end();
    });
  }
}

function kubeConfigFromDefault(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** Options the app may tune (from its configuration) for both feeds. */
export type FeedTuning = Omit<PagedFeedOptions, "path">;

export const podFeed = (tuning: FeedTuning = {}): PagedFeed<PodLike> =>
  new PagedFeed({ unreadArrays: UNREAD_POD_ARRAYS, ...tuning, path: "/api/v1/pods" });
export const sliceFeed = (tuning: FeedTuning = {}): PagedFeed<SliceLike> =>
  new PagedFeed({ ...tuning, path: "/apis/discovery.k8s.io/v1/endpointslices" });
