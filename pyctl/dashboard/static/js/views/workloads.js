// Workloads: one table per served workload kind (KINDS entries with page "workloads"), each
// row with its rollout bar and actions; a workload's own page adds its revision history
// (from the kind named by `history`), its pods and its events.

import { html } from "../dom.js";
import { age, labelSelectorMatches, podSummary } from "../format.js";
import { actionButton, badge, eventRows, eventsFor, heading, kindSection, parts, rollout, runAction, statusClass } from "./common.js";

const REVISION = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE = "kubernetes.io/change-cause";

export function title(ctx, params) {
  return params.rest.length >= 3 ? `${params.rest[0]} ${params.rest[1]}/${params.rest[2]}` : "Workloads";
}

export function mount(root, ctx, params) {
  root.innerHTML = "";
  root.addEventListener("click", onClick);
  root._ctx = ctx;
  root._params = params;
}

export function unmount() {
  document.getElementById("main").removeEventListener("click", onClick);
}

function onClick(ev) {
  const root = ev.currentTarget;
  const button = ev.target.closest("button.act");
  if (!button) return;
  const ctx = root._ctx;
  const revision = button.dataset.revision ? Number(button.dataset.revision) : undefined;
  const detail = root._params.rest;
  runAction(ctx, button, { revision, revisions: revisionsOf(ctx, detail) });
}

function workloadKinds(ctx) {
  return [...ctx.kinds.values()].filter((k) => k.page === "workloads");
}

const link = (kind) => (o) => `#/workloads/${kind.kind}/${encodeURIComponent(o.metadata.namespace)}/${encodeURIComponent(o.metadata.name)}`;

export function render(ctx, params) {
  const root = document.getElementById("main");
  if (params.rest.length >= 3) {
    renderDetail(ctx, root, ...params.rest);
    return;
  }
  heading(root, "Workloads");
  for (const kind of workloadKinds(ctx)) {
    const more = [];
    if (kind.progress) more.push(["ROLLOUT", (o) => rollout(kind.progress(o))]);
    if ((kind.actions || []).length) {
      more.push(["ACTIONS", (o) => html`<span class="actions">${kind.actions.map((a) => actionButton(kind, a, o))}</span>`]);
    }
    kindSection(root, kind, ctx.list(kind.kind).filter(ctx.inNamespace), {
      more, nameLink: kind.progress ? link(kind) : null,
      empty: ctx.inf[kind.kind].synced ? `No ${kind.kind} in ${ctx.namespace || "any namespace"}.` : "Loading…" });
  }
}

// The revisions of a workload: the objects of its history kind that it controls.
function owned(ctx, kindName, owner) {
  return ctx.list(kindName).filter((o) => (o.metadata.ownerReferences || []).some((r) => r.controller && r.uid === owner.metadata.uid));
}

function revisionsOf(ctx, rest) {
  if (!rest || rest.length < 3) return [];
  const [kindName, ns, name] = rest;
  const kind = ctx.kinds.get(kindName);
  const obj = ctx.inf[kindName]?.items.get(`${ns}/${name}`);
  if (!kind?.history || !obj) return [];
  return owned(ctx, kind.history, obj).map((rs) => Number(rs.metadata.annotations?.[REVISION] || 0)).filter(Boolean).sort((a, b) => b - a);
}

function renderDetail(ctx, root, kindName, ns, name) {
  const kind = ctx.kinds.get(kindName);
  heading(root, `${kindName} ${ns}/${name}`);
  let body = root.querySelector("#detail");
  if (!body) {
    body = document.createElement("div");
    body.id = "detail";
    root.appendChild(body);
  }
  const obj = kind && ctx.inf[kindName]?.items.get(`${ns}/${name}`);
  if (!obj) {
    parts(body, ["links"], { links: html`<p class="empty">${ctx.inf[kindName]?.synced ? "It does not exist (any more)." : "Loading…"}</p>
      <p><a href="#/workloads">All workloads</a></p>` });
    return;
  }
  const now = Date.now();
  const revisions = kind.history ? owned(ctx, kind.history, obj)
    .map((rs) => ({ rs, rev: Number(rs.metadata.annotations?.[REVISION] || 0) })).sort((a, b) => b.rev - a.rev) : [];
  const current = revisions.length ? revisions[0].rev : null;
  const selector = obj.spec?.selector;
  const pods = ctx.list("Pod").filter((p) => p.metadata.namespace === ns && labelSelectorMatches(selector, p.metadata.labels || {}));
  const events = eventsFor(ctx, [{ ...obj, kind: kindName }, ...revisions.map((r) => ({ ...r.rs, kind: kind.history }))]);
  const conditions = obj.status?.conditions || [];
  // Each part is replaced only when its own text changes: the buttons stay put while a
  // rollout redraws the bar, so a click is never lost to a redraw.
  parts(body, ["links", "actions", "rollout", "conditions", "history", "pods", "events"], {
    links: html`<p><a href="#/workloads">All workloads</a></p>`,
    actions: html`<div class="detail-actions">${(kind.actions || []).map((a) => actionButton(kind, a, obj))}</div>`,
    rollout: html`${kind.progress ? html`<section aria-labelledby="rollout-h"><h2 id="rollout-h">Rollout</h2>${rollout(kind.progress(obj))}</section>` : ""}`,
    conditions: html`<section aria-labelledby="cond-h"><h2 id="cond-h">Conditions</h2>
      ${conditions.length ? html`<div class="table-wrap"><table><thead><tr><th scope="col">TYPE</th><th scope="col">STATUS</th><th scope="col">REASON</th><th scope="col">MESSAGE</th></tr></thead><tbody>
      ${conditions.map((c) => html`<tr><td>${c.type}</td><td>${c.status}</td><td>${c.reason || ""}</td><td class="message">${c.message || ""}</td></tr>`)}</tbody></table></div>` : html`<p class="empty">None yet.</p>`}
    </section>`,
    history: html`${kind.history ? html`<section aria-labelledby="hist-h"><h2 id="hist-h">Revision history</h2>
      ${revisions.length ? html`<div class="table-wrap"><table><thead><tr><th scope="col">REVISION</th><th scope="col">REPLICASET</th><th scope="col">IMAGES</th>
        <th scope="col">PODS</th><th scope="col">CHANGE-CAUSE</th><th scope="col">AGE</th><th scope="col"><span class="visually-hidden">Roll back</span></th></tr></thead><tbody>
        ${revisions.map(({ rs, rev }) => html`<tr${rev === current ? html` class="current"` : ""}><td>${rev}${rev === current ? " (current)" : ""}</td>
          <td>${rs.metadata.name}</td><td>${(rs.spec?.template?.spec?.containers || []).map((c) => c.image).join(", ")}</td>
          <td>${rs.status?.readyReplicas || 0}/${rs.spec?.replicas ?? 0}</td><td>${rs.metadata.annotations?.[CHANGE_CAUSE] || "<none>"}</td>
          <td>${age(rs.metadata.creationTimestamp, now)}</td>
          <td>${rev !== current && (kind.actions || []).includes("undo") ? html`<button type="button" class="act" data-act="undo" data-kind="${kindName}"
            data-target="${ns}/${name}" data-revision="${rev}" data-focus="undo-${rev}">Roll back to ${rev}</button>` : ""}</td></tr>`)}
        </tbody></table></div>` : html`<p class="empty">No revisions yet.</p>`}</section>` : ""}`,
    pods: html`<section aria-labelledby="pods-h"><h2 id="pods-h">Pods (${pods.length})</h2>
      ${pods.length ? html`<ul class="pod-list">${pods.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((p) => {
        const s = podSummary(p);
        return html`<li><a href="#/pods/${encodeURIComponent(ns)}/${encodeURIComponent(p.metadata.name)}">${p.metadata.name}</a>
          ${badge(s.status, statusClass(s.status))} <span class="muted">${p.spec?.nodeName || "not scheduled"}</span></li>`;
      })}</ul>` : html`<p class="empty">No pods.</p>`}</section>`,
    events: html`<section aria-labelledby="ev-h"><h2 id="ev-h">Events</h2>${eventRows(events)}</section>`,
  });
}
