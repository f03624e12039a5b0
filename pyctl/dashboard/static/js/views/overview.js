// The cluster at a glance: counts, then every node as a card with its requested (and, when
// metrics.k8s.io is served, used) CPU and memory against allocatable, its pods as dots.

import { html, patchList } from "../dom.js";
import { byName, bytes, cores, nodeState, podInfo, quantity } from "../format.js";
import { actionButton, badge, bar, heading, runAction, statusClass } from "./common.js";

const MAX_DOTS = 48;

export function title() {
  return "Overview";
}

export function mount(root, ctx) {
  root.innerHTML = html`<h1 tabindex="-1">Overview</h1>
    <section aria-labelledby="summary-h"><h2 id="summary-h" class="visually-hidden">Summary</h2>
      <dl class="summary" id="summary"></dl></section>
    <section aria-labelledby="nodes-h">
      <div class="section-head"><h2 id="nodes-h">Nodes</h2>
        <label class="filter">Filter <input id="node-filter" type="search" placeholder="name or label" autocomplete="off"></label></div>
      <p class="empty" id="nodes-empty" hidden></p>
      <div class="cards" id="nodes" role="list"></div>
    </section>`.text;
  root.querySelector("#node-filter").addEventListener("input", () => window.__dashboard.scheduler.request());
  root.querySelector("#nodes").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.act");
    if (button) runAction(ctx, button);
  });
}

// Per node: requested CPU/memory, its pods, and a signature of their versions (a card whose
// node and pods did not change is not redrawn), from one pass over the pods.
function perNode(pods) {
  const out = new Map();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node) continue;
    let entry = out.get(node);
    if (!entry) out.set(node, (entry = { cpu: 0, memory: 0, running: 0, pods: [], sig: "" }));
    entry.pods.push(pod);
    entry.sig += `${pod.metadata.resourceVersion},`;
    const info = podInfo(pod);
    if (info.finished) continue;
    entry.running++;
    entry.cpu += info.cpu;
    entry.memory += info.memory;
  }
  return out;
}

const cards = new Map(); // node name -> {sig, html}
// Cards redrawn per render at most: when a rollout touches every node, the rest follow in the
// next renders (time slicing), so no single frame keeps the user waiting.
const REDRAW_BUDGET = 100;
let redrawn = 0;
let behind = false;

function summary(ctx, nodes, pods) {
  const states = nodes.map(nodeState);
  const phases = {};
  for (const p of pods) {
    const phase = p.status?.phase || "Unknown";
    phases[phase] = (phases[phase] || 0) + 1;
  }
  const deployments = ctx.list("Deployment");
  const rolling = deployments.filter((d) => !ctx.kinds.get("Deployment").progress(d).complete).length;
  const item = (label, value, detail = "") => html`<div><dt>${label}</dt><dd><span class="big">${value}</span> ${detail}</dd></div>`;
  return html`
    ${item("Nodes", nodes.length, `${states.filter((s) => s.state === "Ready").length} Ready · ${states.filter((s) => s.state !== "Ready").length} NotReady · ${states.filter((s) => s.cordoned).length} cordoned`)}
    ${item("Pods", pods.length, `${phases.Running || 0} Running · ${phases.Pending || 0} Pending · ${phases.Failed || 0} Failed · ${phases.Succeeded || 0} Succeeded`)}
    ${ctx.served("Deployment") ? item("Deployments", deployments.length, `${rolling} rolling out`) : ""}`;
}

function card(ctx, node, use, usage) {
  const name = node.metadata.name;
  const sig = `${node.metadata.resourceVersion}|${use?.sig || ""}|${usage?.metadata?.resourceVersion || usage?.timestamp || ""}`;
  const cached = cards.get(name);
  if (cached && cached.sig === sig) return cached.html;
  if (cached && redrawn >= REDRAW_BUDGET) {
    behind = true;
    return cached.html;
  }
  redrawn++;
  const html_ = drawCard(ctx, node, use, usage);
  cards.set(name, { sig, html: html_ });
  return html_;
}

function drawCard(ctx, node, use, usage) {
  const name = node.metadata.name;
  const st = nodeState(node);
  const alloc = node.status?.allocatable || {};
  const cpu = quantity(alloc.cpu), memory = quantity(alloc.memory), maxPods = quantity(alloc.pods);
  const pods = use?.pods || [];
  const kind = ctx.kinds.get("Node");
  const dots = pods.slice(0, MAX_DOTS).map((p) => {
    const s = podInfo(p).status;
    return html`<li class="dot ${statusClass(s)}" title="${p.metadata.namespace}/${p.metadata.name}: ${s}"></li>`;
  });
  const cls = `${st.state === "Ready" ? "ready" : "notready"}${st.cordoned ? " cordoned" : ""}`;
  return html`<article class="card node ${cls}" role="listitem" aria-labelledby="node-${name}">
    <header><h3 id="node-${name}">${name}</h3>
      ${badge(st.state, st.state === "Ready" ? "ok" : "bad")}${st.cordoned ? badge("Cordoned", "warn") : ""}</header>
    ${bar("CPU requested", use?.cpu || 0, cpu, `${cores(use?.cpu || 0)} / ${cores(cpu)}`)}
    ${bar("Memory requested", use?.memory || 0, memory, `${bytes(use?.memory || 0)} / ${bytes(memory)}`)}
    ${usage ? bar("CPU used", quantity(usage.usage?.cpu), cpu, `${cores(quantity(usage.usage?.cpu))} / ${cores(cpu)}`, "usage") : ""}
    ${usage ? bar("Memory used", quantity(usage.usage?.memory), memory, `${bytes(quantity(usage.usage?.memory))} / ${bytes(memory)}`, "usage") : ""}
    ${bar("Pods", use?.running || 0, maxPods, `${use?.running || 0} / ${maxPods}`)}
    <ul class="dots" aria-label="${pods.length} pods">${dots}${pods.length > MAX_DOTS ? html`<li class="more">+${pods.length - MAX_DOTS}</li>` : ""}</ul>
    <footer>
      <a href="#/pods?node=${encodeURIComponent(name)}" aria-label="pods on ${name}">Pods</a>
      ${st.cordoned ? actionButton(kind, "uncordon", node) : actionButton(kind, "cordon", node)}
      ${actionButton(kind, "drain", node)}
    </footer></article>`;
}

export function render(ctx) {
  const root = document.getElementById("main");
  heading(root, "Overview");
  const nodes = ctx.list("Node").sort((a, b) => byName(a.metadata.name, b.metadata.name));
  const pods = ctx.list("Pod");
  const summaryEl = root.querySelector("#summary");
  const text = summary(ctx, nodes, pods).text;
  if (summaryEl._html !== text) { summaryEl.innerHTML = text; summaryEl._html = text; }
  const filter = (root.querySelector("#node-filter").value || "").trim().toLowerCase();
  const shown = filter ? nodes.filter((n) => n.metadata.name.toLowerCase().includes(filter) ||
    Object.entries(n.metadata.labels || {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(filter))) : nodes;
  const used = perNode(pods);
  const metrics = ctx.inf.NodeMetrics;
  const empty = root.querySelector("#nodes-empty");
  empty.hidden = shown.length > 0;
  empty.textContent = !ctx.inf.Node?.synced ? "Loading nodes…" : nodes.length ? "No node matches the filter." : "No nodes have joined yet.";
  for (const name of cards.keys()) if (!ctx.inf.Node?.items.has(name)) cards.delete(name);
  redrawn = 0;
  behind = false;
  patchList(root.querySelector("#nodes"), shown, (n) => n.metadata.name,
    (n) => card(ctx, n, used.get(n.metadata.name), metrics ? metrics.items.get(n.metadata.name) : null), "article");
  if (behind) window.__dashboard.scheduler.request();
}
