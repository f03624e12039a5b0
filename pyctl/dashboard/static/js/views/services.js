// Services with their endpoints (ready and not ready addresses), then every other served
// kind whose KINDS entry says page "services" (Ingresses, claims) as plain tables.

import { html, patchList } from "../dom.js";
import { age, formatLabels } from "../format.js";
import { heading, kindSection } from "./common.js";

const SHOWN_ADDRESSES = 4;

export function title() {
  return "Services";
}

export function mount(root) {
  root.innerHTML = html`<h1 tabindex="-1">Services</h1>
    <section aria-labelledby="svc-h"><h2 id="svc-h">Services and their endpoints</h2>
    <p class="empty" id="svc-empty" hidden></p>
    <div class="table-wrap"><table id="services-table" aria-labelledby="svc-h"><thead><tr><th scope="col">NAME</th><th scope="col">NAMESPACE</th>
      <th scope="col">TYPE</th><th scope="col">CLUSTER-IP</th><th scope="col">PORTS</th><th scope="col">SELECTOR</th>
      <th scope="col">ENDPOINTS</th><th scope="col">AGE</th></tr></thead><tbody></tbody></table></div></section>
    <div id="more-kinds"></div>`.text;
}

function ports(svc) {
  return (svc.spec?.ports || []).map((p) => `${p.nodePort ? `${p.port}:${p.nodePort}` : p.port}/${p.protocol || "TCP"}`).join(",") || "<none>";
}

function endpoints(ep) {
  if (!ep) return html`<span class="muted">no Endpoints object</span>`;
  const ready = [], notReady = [];
  for (const subset of ep.subsets || []) {
    const portList = (subset.ports || []).map((p) => p.port);
    for (const a of subset.addresses || []) ready.push(portList.length ? portList.map((p) => `${a.ip}:${p}`) : [a.ip]);
    for (const a of subset.notReadyAddresses || []) notReady.push(a.ip);
  }
  const flat = ready.flat();
  return html`<span class="ep-count">${ready.length} ready${notReady.length ? `, ${notReady.length} not ready` : ""}</span>
    ${flat.length ? html`<span class="ep-list">${flat.slice(0, SHOWN_ADDRESSES).join(", ")}${flat.length > SHOWN_ADDRESSES ? ` +${flat.length - SHOWN_ADDRESSES} more` : ""}</span>` : ""}`;
}

export function render(ctx) {
  const root = document.getElementById("main");
  heading(root, "Services");
  const services = ctx.list("Service").filter(ctx.inNamespace)
    .sort((a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
  const eps = ctx.inf.Endpoints ? ctx.inf.Endpoints.items : new Map();
  const empty = root.querySelector("#svc-empty");
  empty.hidden = services.length > 0;
  empty.textContent = ctx.inf.Service?.synced ? `No services in ${ctx.namespace || "any namespace"}.` : "Loading…";
  const now = Date.now();
  patchList(root.querySelector("#services-table tbody"), services, (s) => `${s.metadata.namespace}/${s.metadata.name}`, (s) => html`<tr>
    <th scope="row">${s.metadata.name}</th><td>${s.metadata.namespace}</td><td>${s.spec?.type || "ClusterIP"}</td>
    <td>${s.spec?.clusterIP || "<none>"}</td><td>${ports(s)}</td><td>${s.spec?.selector ? formatLabels(s.spec.selector) : "<none>"}</td>
    <td>${endpoints(eps.get(`${s.metadata.namespace}/${s.metadata.name}`))}</td><td>${age(s.metadata.creationTimestamp, now)}</td></tr>`, "tr");
  const more = root.querySelector("#more-kinds");
  for (const kind of ctx.kinds.values()) {
    if (kind.page === "services") kindSection(more, kind, ctx.list(kind.kind).filter(ctx.inNamespace));
  }
}
