import { KubeConfig } from "@kubernetes/client-node";
import http from "node:http";
import https from "node:https";
import type { PodLike } from "../cache/pod-record";
import type { SliceLike } from "../endpoints/slice-record";
import type { FeedHandlers, FeedPhase, ObjectFeed } from "./object-feed";

/** The metadata a feed needs to track an object (every Kubernetes object has it). */
export interface Tracked {
  metadata?: { uid?: string; name?: string; namespace?: string; resourceVersion?: string };
}

/** The apiserver answered 410 Gone: the resourceVersion or continue token is too old; relist. */
class Gone extends Error {}

interface Known {
  rv: string;
  name?: string;
  namespace?: string;
}

export interface PagedFeedOptions {
  /** the collection, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/endpointslices */
  path: string;
  /** items per list page (the apiserver's `limit`) */
  pageSize?: number;
  /** the watch's timeoutSeconds: the apiserver ends it after this and the feed resumes from its resourceVersion */
  watchSeconds?: number;
  /** pause before reconnecting after a failure */
  retryMs?: number;
  kubeConfig?: KubeConfig;
}

/**
 * An ObjectFeed that lists in pages (`limit` + `continue`) and watches from the list's
 * resourceVersion with bookmarks, as client-go's reflector does. It remembers only each object's
 * uid, name, namespace and resourceVersion (the consumer keeps what it needs), so a relist after a
 * 410 can report what vanished (DELETED) and skip what did not change. Network failures resume the
 * watch from the last resourceVersion seen; a 410 relists.
 */
export class PagedFeed<T extends Tracked> implements ObjectFeed<T> {
  readonly #known = new Map<string, Known>();
  readonly #opts: Required<Omit<PagedFeedOptions, "kubeConfig">>;
  readonly #kc: KubeConfig;
  #stopped = false;
  /** an error was reported and no request has succeeded since */
  #failing = false;
  #request: http.ClientRequest | undefined;
  #handlers: FeedHandlers<T> | undefined;

  constructor(opts: PagedFeedOptions) {
    this.#opts = { pageSize: 500, watchSeconds: 300, retryMs: 1000, ...opts };
    this.#kc = opts.kubeConfig ?? kubeConfigFromDefault();
  }

  async start(h: FeedHandlers<T>): Promise<void> {
    this.#handlers = h;
    void this.#run(h);
  }

  stop(): void {
    this.#stopped = true;
    this.#request?.destroy();
  }

  async #run(h: FeedHandlers<T>): Promise<void> {
    let rv: string | undefined;
    let synced = false;
    while (!this.#stopped) {
      try {
        if (rv === undefined) {
          rv = await this.#relist(h);
          if (!synced && !this.#stopped) {
            synced = true;
            h.onSynced();
          }
        }
        rv = await this.#watch(h, rv);
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof Gone) {
          rv = undefined;
          continue;
        }
        this.#failing = true;
        h.onError(err);
        await new Promise(r => setTimeout(r, this.#opts.retryMs));
      }
    }
  }

  /** List every page; report what changed against what is known, and what vanished. Returns the list's resourceVersion. */
  async #relist(h: FeedHandlers<T>): Promise<string> {
    const seen = new Set<string>();
    let token: string | undefined;
    let rv = "";
    do {
      const query = new URLSearchParams({ limit: String(this.#opts.pageSize) });
      if (token) query.set("continue", token);
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] };
      try {
        page = JSON.parse(await this.#get(`${this.#opts.path}?${query}`));
      } catch (err) {
        // an expired continue token: start the list again
        if (err instanceof Gone && token) {
          token = undefined;
          seen.clear();
          continue;
        }
        throw err;
      }
      for (const item of page.items ?? []) {
        const uid = item.metadata?.uid;
        if (!uid) continue;
        seen.add(uid);
        this.#apply(h, this.#known.has(uid) ? "MODIFIED" : "ADDED", item);
      }
      rv = page.metadata?.resourceVersion ?? rv;
      token = page.metadata?.continue || undefined;
    } while (token && !this.#stopped);
    for (const [uid, k] of [...this.#known]) {
      if (seen.has(uid)) continue;
      this.#apply(h, "DELETED", {
        metadata: { uid, name: k.name, namespace: k.namespace, resourceVersion: k.rv },
      } as T);
    }
    return rv;
  }

  /** Watch from rv until the server ends the stream; returns the last resourceVersion seen. */
  #watch(h: FeedHandlers<T>, from: string): Promise<string> {
    let rv = from;
    const query = new URLSearchParams({
      watch: "1",
      resourceVersion: from,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(this.#opts.watchSeconds),
    });
    return this.#stream(`${this.#opts.path}?${query}`, line => {
      const event = JSON.parse(line) as { type: string; object: T & { code?: number; message?: string } };
      if (event.type === "ERROR") {
        if (event.object.code === 410) throw new Gone(event.object.message ?? "too old resource version");
        throw new Error(`watch error: ${event.object.message ?? JSON.stringify(event.object)}`);
      }
      rv = event.object.metadata?.resourceVersion ?? rv;
      if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
        this.#apply(h, event.type, event.object);
      }
    }).then(() => rv);
  }

  #apply(h: FeedHandlers<T>, phase: FeedPhase, obj: T): void {
    const m = obj.metadata!;
    const uid = m.uid!;
    if (phase === "DELETED") this.#known.delete(uid);
    else {
      if (this.#known.get(uid)?.rv === m.resourceVersion) return; // unchanged since last seen
      this.#known.set(uid, { rv: m.resourceVersion ?? "", name: m.name, namespace: m.namespace });
    }
    h.onEvent(phase, obj);
  }

  async #get(path: string): Promise<string> {
    let body = "";
    await this.#stream(path, undefined, chunk => (body += chunk));
    return body;
  }

  /** One request; a 2xx body is handed over line by line (or chunk by chunk); anything else throws. */
  async #stream(path: string, onLine?: (line: string) => void, onChunk?: (chunk: string) => void): Promise<void> {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error("no current cluster in the kubeconfig");
    const url = new URL(path, cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
    const opts: https.RequestOptions = { headers: { accept: "application/json" } };
    await this.#kc.applyToHTTPSOptions(opts);
    const transport = url.protocol === "https:" ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = transport.request(url, { ...opts, method: "GET" }, res => {
        res.setEncoding("utf8");
        if ((res.statusCode ?? 0) >= 300) {
          let text = "";
          res.on("data", c => (text += c));
          res.on("end", () =>
            reject(res.statusCode === 410 ? new Gone(text) : new Error(`GET ${path}: ${res.statusCode} ${text}`)),
          );
          return;
        }
        if (this.#failing) {
          this.#failing = false;
          this.#handlers?.onRecovered?.();
        }
        let buffer = "";
        res.on("data", (chunk: string) => {
          try {
            if (onChunk) return onChunk(chunk);
            buffer += chunk;
            let nl: number;
            while ((nl = buffer.indexOf("\n")) >= 0) {
              const line = buffer.slice(0, nl).trim();
              buffer = buffer.slice(nl + 1);
              if (line) onLine!(line);
            }
          } catch (err) {
            req.destroy();
            reject(err);
          }
        });
        res.on("end", () => {
          try {
            if (buffer.trim() && onLine) onLine(buffer.trim());
            resolve();
          } catch (err) {
            reject(err);
          }
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      this.#request = req;
      req.end();
    });
  }
}

function kubeConfigFromDefault(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export const podFeed = (): PagedFeed<PodLike> => new PagedFeed({ path: "/api/v1/pods" });
export const sliceFeed = (): PagedFeed<SliceLike> =>
  new PagedFeed({ path: "/apis/discovery.k8s.io/v1/endpointslices" });
