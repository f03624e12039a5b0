// What kubectl users read every day: ages, quantities, pod and node status.

// Names sorted as people read them (node-2 before node-10); one collator, as building one per
// comparison is what makes localeCompare slow.
export const byName = new Intl.Collator(undefined, { numeric: true }).compare;

export function parseTime(text) {
  const t = text ? Date.parse(text) : NaN;
  return Number.isNaN(t) ? null : t;
}

// kubectl's approximation of a duration: 45s, 3m20s, 2h5m, 6d3h, 2y30d.
export function humanDuration(seconds) {
  const s = Math.floor(seconds);
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(s / 3600);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 ? `${Math.floor(h / 24)}d${h % 24}h` : `${Math.floor(h / 24)}d`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  const y = Math.floor(h / 24 / 365), d = Math.floor(h / 24) % 365;
  return h < 24 * 365 * 8 && d ? `${y}y${d}d` : `${y}y`;
}

export function age(timestamp, now = Date.now()) {
  const t = parseTime(timestamp);
  return t === null ? "<unknown>" : humanDuration((now - t) / 1000);
}

const SUFFIX = {
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

// A Kubernetes quantity ("250m", "1.5Gi", "1e3") as a number (cores, bytes, count).
export function quantity(text) {
  if (text === undefined || text === null || text === "") return 0;
  if (typeof text === "number") return text;
  const m = /^([+-]?[0-9.]+)(?:[eE]([+-]?[0-9]+))?([a-zA-Z]*)$/.exec(String(text).trim());
  if (!m || !(m[3] in SUFFIX)) return 0;
  return parseFloat(m[1]) * (m[2] ? 10 ** parseInt(m[2], 10) : 1) * SUFFIX[m[3]];
}

export function cores(value) {
  if (value >= 10) return `${Math.round(value)}`;
  if (value >= 1) return `${+value.toFixed(2)}`;
  return `${Math.round(value * 1000)}m`;
}

export function bytes(value) {
  const units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
  let i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
  return `${value >= 100 || i === 0 ? Math.round(value) : +value.toFixed(1)}${units[i]}`;
}

export function condition(obj, type) {
  return ((obj.status || {}).conditions || []).find((c) => c.type === type) || null;
}

export function labels(obj) {
  return (obj.metadata || {}).labels || {};
}

export function formatLabels(map) {
  const parts = Object.entries(map || {}).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(",") : "<none>";
}

// What a pod asks of its node: the sum of its containers, or its biggest init container.
export function podRequests(pod) {
  const spec = pod.spec || {};
  const sum = { cpu: 0, memory: 0 };
  for (const c of spec.containers || []) {
    const r = (c.resources || {}).requests || {};
    sum.cpu += quantity(r.cpu);
    sum.memory += quantity(r.memory);
  }
  for (const c of spec.initContainers || []) {
    const r = (c.resources || {}).requests || {};
    sum.cpu = Math.max(sum.cpu, quantity(r.cpu));
    sum.memory = Math.max(sum.memory, quantity(r.memory));
  }
  const overhead = spec.overhead || {};
  sum.cpu += quantity(overhead.cpu);
  sum.memory += quantity(overhead.memory);
  return sum;
}

export function podFinished(pod) {
  const phase = (pod.status || {}).phase;
  return phase === "Succeeded" || phase === "Failed";
}

// kubectl's READY, STATUS and RESTARTS for a pod (printPod, without the sidecar subtleties
// of init containers that restart).
export function podSummary(pod) {
  const spec = pod.spec || {}, status = pod.status || {};
  let reason = status.reason || status.phase || "Unknown";
  const inits = spec.initContainers || [];
  let restarts = 0, ready = 0, initializing = false;
  (status.initContainerStatuses || []).forEach((cs, i) => {
    restarts += cs.restartCount || 0;
    if (initializing) return;
    const st = cs.state || {};
    if (st.terminated && !st.terminated.exitCode) return;
    if (st.terminated) reason = `Init:${st.terminated.reason || `ExitCode:${st.terminated.exitCode}`}`;
    else if (st.waiting && st.waiting.reason && st.waiting.reason !== "PodInitializing") reason = `Init:${st.waiting.reason}`;
    else reason = `Init:${i}/${inits.length}`;
    initializing = true;
  });
  if (!initializing) {
    let running = false;
    for (const cs of [...(status.containerStatuses || [])].reverse()) {
      restarts += cs.restartCount || 0;
      const st = cs.state || {};
      if (st.waiting && st.waiting.reason) reason = st.waiting.reason;
      else if (st.terminated) reason = st.terminated.reason || `ExitCode:${st.terminated.exitCode}`;
      else if (cs.ready && st.running) { running = true; ready++; }
    }
    if (reason === "Completed" && running) reason = condition(pod, "Ready")?.status === "True" ? "Running" : "NotReady";
  }
  if ((pod.metadata || {}).deletionTimestamp) reason = status.reason === "NodeLost" ? "Unknown" : podFinished(pod) ? reason : "Terminating";
  return { ready: `${ready}/${(spec.containers || []).length}`, status: reason, restarts };
}

// What the pages derive from a pod, computed once per version of it: a watch event replaces
// the object, so a WeakMap keyed by the object itself forgets stale versions by itself.
const derived = new WeakMap();

export function podInfo(pod) {
  let d = derived.get(pod);
  if (!d) {
    const r = podRequests(pod);
    d = { cpu: r.cpu, memory: r.memory, finished: podFinished(pod), ...podSummary(pod) };
    derived.set(pod, d);
  }
  return d;
}

// "Ready", "NotReady" or "Unknown", and whether the node is cordoned.
export function nodeState(node) {
  const ready = condition(node, "Ready");
  const state = !ready ? "Unknown" : ready.status === "True" ? "Ready" : "NotReady";
  return { state, cordoned: !!(node.spec || {}).unschedulable };
}

// Label selectors as kubectl takes them: a=b, a!=b, a, !a, a in (x,y), a notin (x,y).
export function parseSelector(text) {
  const reqs = [];
  const src = (text || "").trim();
  if (!src) return { reqs, error: null };
  const parts = src.match(/(?:[^,(]|\([^)]*\))+/g) || [];
  for (const raw of parts) {
    const p = raw.trim();
    let m;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) {
      reqs.push({ key: m[1], op: m[2], values: m[3].split(",").map((v) => v.trim()) });
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(p))) {
      reqs.push({ key: m[1], op: m[2] === "!=" ? "!=" : "=", values: [m[3]] });
    } else if ((m = /^!\s*([\w./-]+)$/.exec(p))) {
      reqs.push({ key: m[1], op: "!exists", values: [] });
    } else if ((m = /^([\w./-]+)$/.exec(p))) {
      reqs.push({ key: m[1], op: "exists", values: [] });
    } else {
      return { reqs: [], error: `cannot parse "${p}": use a=b, a!=b, a, !a, a in (x,y)` };
    }
  }
  return { reqs, error: null };
}

export function selectorMatches(reqs, map) {
  return reqs.every(({ key, op, values }) => {
    const has = Object.prototype.hasOwnProperty.call(map, key);
    switch (op) {
      case "=": return has && map[key] === values[0];
      case "!=": return !has || map[key] !== values[0];
      case "in": return has && values.includes(map[key]);
      case "notin": return !has || !values.includes(map[key]);
      case "exists": return has;
      case "!exists": return !has;
      default: return false;
    }
  });
}

// A LabelSelector object (matchLabels, matchExpressions) against labels.
export function labelSelectorMatches(selector, map) {
  if (!selector) return false;
  const reqs = Object.entries(selector.matchLabels || {}).map(([key, v]) => ({ key, op: "=", values: [v] }));
  for (const e of selector.matchExpressions || []) {
    const op = { In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!exists" }[e.operator];
    if (!op) return false;
    reqs.push({ key: e.key, op, values: e.values || [] });
  }
  return selectorMatches(reqs, map);
}
