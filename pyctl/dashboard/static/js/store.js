// The page's copy of the cluster: one informer per served kind, fed by a watch.
//
// Each informer opens one stream that starts with the current objects and goes on with the
// changes (WatchList: sendInitialEvents=true ends the snapshot with a bookmark), keeps the
// objects in a Map, and resumes from its last resourceVersion when the stream ends. A 410
// Expired starts over with a fresh snapshot, swapped in only once it is complete. A server
// that refuses WatchList gets a list and then a watch from the list's resourceVersion.
// Nothing is polled, except metrics.k8s.io, which has no watch.

import { ApiError } from "./api.js";
import { collectionPath } from "./kinds.js";

const INITIAL_END = "k8s.io/initial-events-end";
const METRICS_PERIOD = 30000;

const keyOf = (o) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class Informer {
  constructor(kind, streams, get, onChange) {
    this.kind = kind;
    this.streams = streams;
    this.get = get;
    this.onChange = onChange;
    this.items = new Map();
    this.rv = "";
    this.synced = false;
    this.error = null;
    this.version = 0;
    this.fresh = null; // the snapshot being received after a 410, until it is complete
    this.useWatchList = true;
  }

  start() {
    if (this.kind.metrics && !this.kind.verbs.includes("watch")) {
      this.poll();
      return;
    }
    this.watch();
  }

  watch() {
    const base = collectionPath(this.kind, null);
    let query = "watch=1&allowWatchBookmarks=true";
    if (!this.rv) {
      if (this.useWatchList) {
        query += "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan";
        this.fresh = new Map();
      } else {
        this.listThenWatch();
        return;
      }
    } else {
      query += `&resourceVersion=${encodeURIComponent(this.rv)}`;
    }
    this.close = this.streams.open(`${base}?${query}`, "lines", {
      onEvents: (events) => this.apply(events),
      onEnd: (end) => this.ended(end),
    });
  }

  async listThenWatch() {
    try {
      const list = await this.get(collectionPath(this.kind, null));
      this.items = new Map((list.items || []).map((o) => [keyOf(o), o]));
      this.rv = list.metadata.resourceVersion;
      this.synced = true;
      this.error = null;
      this.changed();
      this.watch();
    } catch (e) {
      this.error = e instanceof ApiError ? e.status : { message: String(e) };
      this.changed();
      setTimeout(() => this.listThenWatch(), 5000);
    }
  }

  apply(events) {
    let touched = false;
    for (const ev of events) {
      const obj = ev.object || {};
      if (ev.type === "ERROR") {
        this.expired = true;
        continue;
      }
      const rv = obj.metadata?.resourceVersion;
      if (ev.type === "BOOKMARK") {
        if (rv) this.rv = rv;
        if (obj.metadata?.annotations?.[INITIAL_END] === "true" && this.fresh) {
          this.items = this.fresh;
          this.fresh = null;
          this.synced = true;
          this.error = null;
          touched = true;
        }
        continue;
      }
      const target = this.fresh || this.items;
      if (ev.type === "DELETED") target.delete(keyOf(obj));
      else target.set(keyOf(obj), obj);
      // Inside a snapshot an object's version is not a point to resume from: only the
      // bookmark that ends it is.
      if (!this.fresh) {
        if (rv) this.rv = rv;
        touched = true;
      }
    }
    if (touched) this.changed();
  }

  ended({ code, status }) {
    this.close = null;
    if (this.stopped) return;
    if (this.fresh) this.rv = ""; // a snapshot cut short: take a whole one again
    if (code === 0) {
      // The page's socket dropped: resume once it is back.
      setTimeout(() => this.watch(), 200);
      return;
    }
    if (this.expired || code === 410) {
      this.expired = false;
      this.rv = "";
    } else if (code >= 400) {
      if (!this.synced && (code === 422 || code === 400) && this.useWatchList) {
        this.useWatchList = false; // a server without WatchList: list, then watch
        this.rv = "";
      } else {
        this.error = status || { code, message: `HTTP ${code}` };
        this.changed();
        setTimeout(() => this.watch(), 5000);
        return;
      }
    }
    this.fresh = null;
    setTimeout(() => this.watch(), 100);
  }

  async poll() {
    try {
      const list = await this.get(collectionPath(this.kind, null));
      this.items = new Map((list.items || []).map((o) => [keyOf(o), o]));
      this.synced = true;
      this.error = null;
    } catch (e) {
      this.error = e instanceof ApiError ? e.status : { message: String(e) };
    }
    this.changed();
    if (!this.stopped) this.timer = setTimeout(() => this.poll(), METRICS_PERIOD);
  }

  changed() {
    this.version++;
    this.onChange(this);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.close) this.close();
  }

  list() {
    return [...this.items.values()];
  }
}

// Coalesces bursts of changes into at most one render per frame, and at most every
// `minGap` ms, so thousands of pod events a second cost a handful of renders. The gap grows
// with what a render costs (4× its time, up to a second): the page keeps three quarters of
// its main thread for the user however busy the cluster is.
export class RenderScheduler {
  constructor(render, minGap = 150) {
    this.render = render;
    this.minGap = minGap;
    this.gap = minGap;
    this.pending = false;
    this.last = 0;
    this.stats = { renders: 0, totalMs: 0, maxMs: 0 };
  }

  request() {
    if (this.pending) return;
    this.pending = true;
    const wait = Math.max(0, this.last + this.gap - performance.now());
    setTimeout(() => requestAnimationFrame(() => this.run()), wait);
  }

  run() {
    this.pending = false;
    const t0 = performance.now();
    try {
      this.render();
    } finally {
      const took = performance.now() - t0;
      this.last = performance.now();
      this.gap = Math.min(1000, Math.max(this.minGap, 4 * took));
      this.stats.renders++;
      this.stats.totalMs += took;
      this.stats.maxMs = Math.max(this.stats.maxMs, took);
    }
  }
}
