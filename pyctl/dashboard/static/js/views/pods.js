// Pods: a filtered, paged table (namespace, label selector, node, status, name) and a pod's
// own page: why it is Pending, its containers, conditions, events, its log, followed, and a
// console to run a command in one of its containers (execconsole.js).

import { html, patchList } from "../dom.js";
import { ExecConsole, section as execSection } from "../execconsole.js";
import { age, byName, parseSelector, podInfo, podSummary, selectorMatches } from "../format.js";
import { pendingReason } from "../pending.js";
import { actionButton, badge, eventRows, eventsFor, heading, parts, runAction, statusClass } from "./common.js";

const PAGE = 100;
const LOG_KEEP = 200000; // characters of log kept on the page
let logStream = null;
let execConsole = null;

export function title(ctx, params) {
  return params.rest.length >= 2 ? `Pod ${params.rest[0]}/${params.rest[1]}` : "Pods";
}

export function mount(root, ctx, params) {
  root._ctx = ctx;
  root.addEventListener("click", onClick);
  if (params.rest.length >= 2) {
    mountDetail(root, ctx, params.rest[0], params.rest[1]);
    return;
  }
  root.innerHTML = html`<h1 tabindex="-1">Pods</h1>
    <form class="filters" id="pod-filters" role="search" aria-label="Filter pods">
      <label>Labels <input name="selector" type="search" placeholder="app=web,tier!=db" value="${params.selector || ""}" autocomplete="off"></label>
      <label>Node <input name="node" type="search" list="node-names" value="${params.node || ""}" autocomplete="off"></label>
      <datalist id="node-names"></datalist>
      <label>Status <select name="status">${["", "Running", "Pending", "Failed", "Succeeded", "Terminating", "problem"].map((s) =>
        html`<option value="${s}"${params.status === s ? html` selected` : ""}>${s === "" ? "any" : s === "problem" ? "not Running" : s}</option>`)}</select></label>
      <label>Name <input name="name" type="search" value="${params.name || ""}" autocomplete="off"></label>
    </form>
    <p id="selector-error" class="error" role="alert" hidden></p>
    <p id="pod-count" class="muted" aria-live="polite"></p>
    <div class="table-wrap"><table id="pods-table" aria-label="Pods"><thead><tr><th scope="col">NAME</th><th scope="col">NAMESPACE</th>
      <th scope="col">READY</th><th scope="col">STATUS</th><th scope="col">RESTARTS</th><th scope="col">NODE</th><th scope="col">IP</th>
      <th scope="col">AGE</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead><tbody></tbody></table></div>
    <nav class="pager" aria-label="Pages of pods"><button type="button" id="prev" data-focus="prev">Previous</button>
      <span id="page-info"></span><button type="button" id="next" data-focus="next">Next</button></nav>`.text;
  root._page = Number(params.page || 0);
  const form = root.querySelector("#pod-filters");
  form.addEventListener("input", () => {
    root._page = 0;
    const query = new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
    history.replaceState(null, "", `#/pods${query.toString() ? `?${query}` : ""}`);
    window.__dashboard.scheduler.request();
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());
  root.querySelector("#prev").addEventListener("click", () => { root._page--; window.__dashboard.scheduler.request(); });
  root.querySelector("#next").addEventListener("click", () => { root._page++; window.__dashboard.scheduler.request(); });
}

export function unmount() {
  const root = document.getElementById("main");
  root.removeEventListener("click", onClick);
  stopLog();
  if (execConsole) execConsole.stop();
  execConsole = null;
}

function onClick(ev) {
  const button = ev.target.closest("button.act");
  if (button) runAction(ev.currentTarget._ctx, button);
}

function filters(root) {
  const form = root.querySelector("#pod-filters");
  return Object.fromEntries(new FormData(form));
}

export function render(ctx, params) {
  const root = document.getElementById("main");
  if (params.rest.length >= 2) {
    renderDetail(ctx, root, params.rest[0], params.rest[1]);
    return;
  }
  heading(root, "Pods");
  const f = filters(root);
  const sel = parseSelector(f.selector);
  const err = root.querySelector("#selector-error");
  err.hidden = !sel.error;
  err.textContent = sel.error || "";
  const node = (f.node || "").trim(), name = (f.name || "").trim().toLowerCase();
  const rows = [];
  for (const pod of ctx.list("Pod")) {
    if (!ctx.inNamespace(pod)) continue;
    if (node && pod.spec?.nodeName !== node) continue;
    if (name && !pod.metadata.name.toLowerCase().includes(name)) continue;
    if (sel.reqs.length && !selectorMatches(sel.reqs, pod.metadata.labels || {})) continue;
    const s = podInfo(pod);
    if (f.status === "problem" ? s.status === "Running" || s.status === "Completed"
      : f.status && s.status !== f.status && (pod.status?.phase !== f.status)) continue;
    rows.push([pod, s]);
  }
  rows.sort(([a], [b]) => byName(a.metadata.namespace, b.metadata.namespace) || byName(a.metadata.name, b.metadata.name));
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  root._page = Math.min(Math.max(0, root._page || 0), pages - 1);
  const shown = rows.slice(root._page * PAGE, (root._page + 1) * PAGE);
  root.querySelector("#pod-count").textContent = ctx.inf.Pod?.synced
    ? `${rows.length} pod${rows.length === 1 ? "" : "s"}${ctx.namespace ? ` in ${ctx.namespace}` : ""}` : "Loading pods…";
  root.querySelector("#page-info").textContent = `page ${root._page + 1} of ${pages}`;
  root.querySelector("#prev").disabled = root._page === 0;
  root.querySelector("#next").disabled = root._page >= pages - 1;
  const nodes = ctx.list("Node").map((n) => n.metadata.name).sort().join("\n");
  const list = root.querySelector("#node-names");
  if (list._names !== nodes) {
    list._names = nodes;
    list.innerHTML = nodes.split("\n").filter(Boolean).map((n) => `<option value="${n.replace(/"/g, "&quot;")}">`).join("");
  }
  const events = ctx.list("Event");
  const kind = ctx.kinds.get("Pod");
  const now = Date.now();
  patchList(root.querySelector("#pods-table tbody"), shown, ([p]) => `${p.metadata.namespace}/${p.metadata.name}`, ([p, s]) => {
    const pending = pendingReason(p, events);
    return html`<tr><th scope="row"><a href="#/pods/${encodeURIComponent(p.metadata.namespace)}/${encodeURIComponent(p.metadata.name)}">${p.metadata.name}</a></th>
      <td>${p.metadata.namespace}</td><td>${s.ready}</td>
      <td>${badge(s.status, statusClass(s.status))}${pending ? html`<div class="why">${pending.message}</div>` : ""}</td>
      <td>${s.restarts}</td><td>${p.spec?.nodeName || "<none>"}</td><td>${p.status?.podIP || "<none>"}</td>
      <td>${age(p.metadata.creationTimestamp, now)}</td>
      <td class="actions"><a href="#/pods/${encodeURIComponent(p.metadata.namespace)}/${encodeURIComponent(p.metadata.name)}?tab=logs"
        aria-label="logs of ${p.metadata.name}">Logs</a> ${actionButton(kind, "delete", p)}</td></tr>`;
  }, "tr");
}

// -- a pod's page -------------------------------------------------------------------------

function mountDetail(root, ctx, ns, name) {
  root.innerHTML = html`<h1 tabindex="-1">Pod ${ns}/${name}</h1>
    <p><a href="#/pods">All pods</a></p>
    <div id="pod-detail"></div>
    <section aria-labelledby="log-h" class="logs"><h2 id="log-h">Log</h2>
      <form class="log-controls" id="log-controls">
        <label>Container <select name="container" id="log-container"></select></label>
        <label class="check"><input type="checkbox" name="follow" id="log-follow" checked> Follow</label>
        <label>Last lines <input type="number" name="tail" id="log-tail" value="500" min="1"></label>
        <button type="button" id="log-reload">Reload</button>
        <span id="log-state" class="muted" aria-live="polite"></span>
      </form>
      <pre id="log" class="log" tabindex="0" aria-label="container log"></pre>
    </section>
    ${execSection()}`.text;
  root._logFor = null;
  execConsole = new ExecConsole(root, ctx.streams, ns, name);
  const restart = () => startLog(ctx, root, ns, name);
  root.querySelector("#log-controls").addEventListener("change", restart);
  root.querySelector("#log-reload").addEventListener("click", restart);
}

function stopLog() {
  if (logStream) logStream();
  logStream = null;
}

function startLog(ctx, root, ns, name) {
  stopLog();
  const container = root.querySelector("#log-container").value;
  const follow = root.querySelector("#log-follow").checked;
  const tail = Math.max(1, Number(root.querySelector("#log-tail").value) || 500);
  const pre = root.querySelector("#log");
  const state = root.querySelector("#log-state");
  pre.textContent = "";
  if (!container) return;
  state.textContent = follow ? "following…" : "loading…";
  const query = new URLSearchParams({ container, tailLines: String(tail) });
  if (follow) query.set("follow", "true");
  const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/log?${query}`;
  logStream = ctx.streams.open(path, "text", {
    onText: (text) => {
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      let all = pre.textContent + text;
      if (all.length > LOG_KEEP) all = all.slice(all.length - LOG_KEEP);
      pre.textContent = all;
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    },
    onEnd: ({ code, status }) => {
      logStream = null;
      if (code >= 400) state.innerHTML = html`<span class="error" role="alert">${status?.message || `HTTP ${code}`}</span>`.text;
      else state.textContent = code === 0 ? "connection lost: Reload to go on" : "end of log";
    },
  });
}

function renderDetail(ctx, root, ns, name) {
  const pod = ctx.inf.Pod?.items.get(`${ns}/${name}`);
  const body = root.querySelector("#pod-detail");
  if (!pod) {
    parts(body, ["gone"], { gone: html`<p class="empty">${ctx.inf.Pod?.synced ? "This pod does not exist (any more)." : "Loading…"}</p>` });
    return;
  }
  const s = podSummary(pod);
  const events = ctx.list("Event");
  const pending = pendingReason(pod, events);
  const kind = ctx.kinds.get("Pod");
  const statuses = new Map([...(pod.status?.initContainerStatuses || []), ...(pod.status?.containerStatuses || [])].map((c) => [c.name, c]));
  const containers = [...(pod.spec?.initContainers || []).map((c) => ({ ...c, init: true })), ...(pod.spec?.containers || [])];
  const stateOf = (cs) => {
    const st = cs?.state || {};
    if (st.running) return `Running since ${age(st.running.startedAt)}`;
    if (st.waiting) return `Waiting: ${st.waiting.reason || ""}${st.waiting.message ? ` — ${st.waiting.message}` : ""}`;
    if (st.terminated) return `Terminated: ${st.terminated.reason || ""} (exit code ${st.terminated.exitCode})`;
    return "—";
  };
  const owner = (pod.metadata.ownerReferences || []).find((r) => r.controller);
  parts(body, ["actions", "facts", "pending", "containers", "conditions", "events"], {
    actions: html`<div class="detail-actions">${actionButton(kind, "delete", pod)}</div>`,
    facts: html`<dl class="facts">
      <div><dt>Status</dt><dd>${badge(s.status, statusClass(s.status))}</dd></div>
      <div><dt>Ready</dt><dd>${s.ready}</dd></div><div><dt>Restarts</dt><dd>${s.restarts}</dd></div>
      <div><dt>Node</dt><dd>${pod.spec?.nodeName || "<none>"}</dd></div><div><dt>IP</dt><dd>${pod.status?.podIP || "<none>"}</dd></div>
      <div><dt>Age</dt><dd>${age(pod.metadata.creationTimestamp)}</dd></div>
      <div><dt>Controlled by</dt><dd>${owner ? `${owner.kind}/${owner.name}` : "<none>"}</dd></div>
      <div><dt>Labels</dt><dd>${Object.keys(pod.metadata.labels || {}).length ? Object.entries(pod.metadata.labels).map(([k, v]) => html`<code class="label">${k}=${v}</code> `) : "<none>"}</dd></div>
    </dl>`,
    pending: html`${pending ? html`<section class="pending" aria-labelledby="pending-h"><h2 id="pending-h">Why it is Pending</h2>
      <p><strong>${pending.reason}</strong>${pending.stage === "scheduling" ? " — not placed on a node yet" : ""}</p>
      <p class="why-message" id="pending-message">${pending.message}</p>
      ${pending.perNode ? html`<h3>Per node</h3><ul>${pending.perNode.map((n) => html`<li><strong>${n.node}</strong>: ${n.reasons.join("; ")}</li>`)}</ul>` : ""}
      ${pending.events.length ? html`<p class="muted">The scheduler said so ${pending.events.reduce((a, e) => a + (e.count || 1), 0)} time(s); last ${age(pending.events[0].lastTimestamp || pending.events[0].eventTime)} ago.</p>` : ""}
    </section>` : ""}`,
    containers: html`<section aria-labelledby="containers-h"><h2 id="containers-h">Containers</h2>
      <div class="table-wrap"><table><thead><tr><th scope="col">NAME</th><th scope="col">IMAGE</th><th scope="col">STATE</th><th scope="col">READY</th><th scope="col">RESTARTS</th></tr></thead><tbody>
      ${containers.map((c) => { const cs = statuses.get(c.name); return html`<tr><td>${c.name}${c.init ? " (init)" : ""}</td><td>${c.image}</td>
        <td>${stateOf(cs)}</td><td>${cs?.ready ? "yes" : "no"}</td><td>${cs?.restartCount || 0}</td></tr>`; })}</tbody></table></div></section>`,
    conditions: html`<section aria-labelledby="pcond-h"><h2 id="pcond-h">Conditions</h2>
      <div class="table-wrap"><table><thead><tr><th scope="col">TYPE</th><th scope="col">STATUS</th><th scope="col">REASON</th><th scope="col">MESSAGE</th></tr></thead><tbody>
      ${(pod.status?.conditions || []).map((c) => html`<tr><td>${c.type}</td><td>${c.status}</td><td>${c.reason || ""}</td><td class="message">${c.message || ""}</td></tr>`)}
      </tbody></table></div></section>`,
    events: html`<section aria-labelledby="pev-h"><h2 id="pev-h">Events</h2>${eventRows(eventsFor(ctx, [{ ...pod, kind: "Pod" }]), false)}</section>`,
  });
  // The log's container list follows the pod's; the first one found starts streaming.
  const select = root.querySelector("#log-container");
  const names = containers.map((c) => c.name).join(",");
  if (select._names !== names) {
    const chosen = select.value || (pod.spec?.containers || [])[0]?.name || "";
    select._names = names;
    select.innerHTML = containers.map((c) => html`<option value="${c.name}"${c.name === chosen ? html` selected` : ""}>${c.name}</option>`.text).join("");
  }
  // As `pyctl exec` chooses: the pod's default-container annotation, else its first container.
  const preferred = pod.metadata.annotations?.["kubectl.kubernetes.io/default-container"] || (pod.spec?.containers || [])[0]?.name;
  if (execConsole) execConsole.setContainers(containers.map((c) => c.name), preferred);
  if (root._logFor !== pod.metadata.uid && pod.spec?.nodeName) {
    root._logFor = pod.metadata.uid;
    startLog(ctx, root, ns, name);
  }
}
