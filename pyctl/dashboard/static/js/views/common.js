// Pieces the pages share: bars, badges, a kind's actions, events about an object, tables.

import { $, html, patchList, raw, setHTML } from "../dom.js";
import { age, parseTime } from "../format.js";

export function bar(label, value, max, text, cls = "") {
  // Anything above nothing shows at least a sliver.
  const pct = max > 0 ? Math.min(100, Math.max(value > 0 ? 1 : 0, Math.round((value / max) * 100))) : 0;
  return html`<div class="meter ${cls}">
    <span class="meter-label">${label}</span>
    <span class="meter-track" role="progressbar" aria-label="${label}" aria-valuemin="0" aria-valuemax="100"
      aria-valuenow="${pct}" aria-valuetext="${text}"><span class="meter-fill${raw(pct >= 90 ? " high" : "")}" style="width:${pct}%"></span></span>
    <span class="meter-text">${text}</span></div>`;
}

// A workload's rollout: available (solid), updated but not yet available (striped), of want.
export function rollout(p) {
  const want = Math.max(p.want, 1);
  const avail = Math.min(100, (Math.min(p.available, p.updated) / want) * 100);
  const upd = Math.max(0, Math.min(100 - avail, ((p.updated - Math.min(p.available, p.updated)) / want) * 100));
  const state = p.failed ? "failed" : p.complete ? "complete" : "progressing";
  return html`<div class="rollout ${state}">
    <span class="rollout-track" role="progressbar" aria-label="rollout" aria-valuemin="0" aria-valuemax="${p.want}"
      aria-valuenow="${Math.min(p.available, p.updated)}" aria-valuetext="${p.label}">
      <span class="rollout-available" style="width:${avail.toFixed(1)}%"></span><span class="rollout-updated" style="width:${upd.toFixed(1)}%"></span>
    </span><span class="rollout-label">${p.label}</span></div>`;
}

export function badge(text, cls) {
  return html`<span class="badge ${cls}">${text}</span>`;
}

const STATUS_CLASS = {
  Running: "ok", Succeeded: "ok", Completed: "ok", Ready: "ok",
  Pending: "warn", ContainerCreating: "warn", Terminating: "muted", PodInitializing: "warn",
};

export function statusClass(status) {
  return STATUS_CLASS[status] || (/^Init:/.test(status) ? "warn" : "bad");
}

// What an action button says and how its dialog asks; `obj` is the row's object.
export function actionButton(kind, name, obj, extra = {}) {
  const label = { scale: "Scale", restart: "Restart", undo: "Undo", delete: "Delete", cordon: "Cordon",
                  uncordon: "Uncordon", drain: "Drain" }[name] || name;
  const target = obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
  return html`<button type="button" class="act" data-act="${name}" data-kind="${kind.kind}" data-target="${target}"
    data-focus="${name}" aria-label="${label} ${kind.kind.toLowerCase()} ${target}" ${raw(extra.disabled ? "disabled" : "")}>${label}</button>`;
}

// Opens the dialog of one action button; the parameters say what the server needs.
export function runAction(ctx, button, extra = {}) {
  const kind = ctx.kinds.get(button.dataset.kind);
  const obj = ctx.inf[button.dataset.kind]?.items.get(button.dataset.target);
  if (!kind || !obj) return;
  const md = obj.metadata;
  const ref = `${kind.kind.toLowerCase()} ${md.namespace ? `${md.namespace}/` : ""}${md.name}`;
  const params = { resource: kind.group ? `${kind.resource}.${kind.group}` : kind.resource, namespace: md.namespace, name: md.name };
  const act = button.dataset.act;
  if (act === "scale") {
    ctx.action("scale", params, { title: `Scale ${ref}`, confirm: "Scale",
      fields: [{ name: "replicas", label: "Replicas", type: "number", min: 0, value: obj.spec?.replicas ?? 1 }] });
  } else if (act === "restart") {
    ctx.action("restart", params, { title: `Restart ${ref}`, confirm: "Restart",
      text: "Every pod is replaced by a rolling update with the same template (the template gets a kubectl.kubernetes.io/restartedAt annotation)." });
  } else if (act === "undo") {
    const revisions = extra.revisions || [];
    ctx.action("undo", { ...params, revision: extra.revision ?? 0 }, { title: `Roll back ${ref}`, confirm: "Roll back",
      text: "The deployment's template becomes that of an earlier revision, and a rolling update follows.",
      fields: [{ name: "revision", label: "To revision", type: "select", numeric: true, value: extra.revision ?? 0,
                 options: [[0, "the previous one"], ...revisions.map((r) => [r, `revision ${r}`])] }] });
  } else if (act === "delete") {
    ctx.action("delete", params, { title: `Delete ${ref}`, confirm: "Delete", danger: true,
      text: md.ownerReferences?.length ? "Its owner will replace it." : "Nothing owns it: it will not come back." });
  } else if (act === "cordon" || act === "uncordon") {
    ctx.action(act, { name: md.name }, { title: `${act === "cordon" ? "Cordon" : "Uncordon"} node ${md.name}`,
      confirm: act === "cordon" ? "Cordon" : "Uncordon",
      text: act === "cordon" ? "No new pod will be placed on it; the pods there keep running." : "New pods may be placed on it again." });
  } else if (act === "drain") {
    ctx.action("drain", { name: md.name }, { title: `Drain node ${md.name}`, confirm: "Drain", danger: true,
      text: "The node is cordoned, then its pods are evicted and replaced by their owners elsewhere. Nothing is evicted if a pod blocks.",
      fields: [{ name: "flags", label: "Also", type: "checks", options: [
        ["--ignore-daemonsets", "ignore DaemonSet-managed pods"], ["--delete-emptydir-data", "delete pods with emptyDir data"],
        ["--force", "delete pods that no controller owns"]] }] });
  }
}

// Events about the given objects (by uid, or kind+namespace+name), newest first.
export function eventsFor(ctx, objects, limit = 20) {
  const uids = new Set(objects.map((o) => o.metadata.uid));
  const names = new Set(objects.map((o) => `${o.kind || ""}/${o.metadata.namespace}/${o.metadata.name}`));
  return sortEvents(ctx.list("Event").filter((e) => {
    const io = e.involvedObject || {};
    return uids.has(io.uid) || names.has(`${io.kind}/${io.namespace}/${io.name}`);
  })).slice(0, limit);
}

export function eventTime(e) {
  return parseTime(e.series?.lastObservedTime) ?? parseTime(e.lastTimestamp) ?? parseTime(e.eventTime)
    ?? parseTime(e.firstTimestamp) ?? parseTime(e.metadata.creationTimestamp) ?? 0;
}

// When an event last happened, as finely as it says: lastTimestamp has one-second resolution
// but eventTime (its first occurrence) keeps microseconds, so of two events in the same second
// the later one sorts first even when one etcd transaction wrote both (same resourceVersion).
function latest(e) {
  return Math.max(eventTime(e), parseTime(e.eventTime) ?? 0);
}

// Newest first; exact ties in the order they were written (resourceVersions are etcd revisions).
export function sortEvents(list) {
  return list.map((e) => [latest(e), Number(e.metadata.resourceVersion) || 0, e])
    .sort((a, b) => b[0] - a[0] || b[1] - a[1]).map(([, , e]) => e);
}

export function eventRows(list, withObject = true) {
  if (!list.length) return html`<p class="empty">No events.</p>`;
  const now = Date.now();
  return html`<div class="table-wrap"><table class="events"><thead><tr><th scope="col">TYPE</th><th scope="col">REASON</th>
    ${withObject ? html`<th scope="col">OBJECT</th>` : ""}<th scope="col">MESSAGE</th><th scope="col">COUNT</th><th scope="col">LAST SEEN</th></tr></thead><tbody>
    ${list.map((e) => html`<tr class="${e.type === "Warning" ? "warning" : ""}"><td>${e.type}</td><td>${e.reason}</td>
      ${withObject ? html`<td>${(e.involvedObject?.kind || "").toLowerCase()}/${e.involvedObject?.name}</td>` : ""}
      <td class="message">${e.message}</td><td>${e.series?.count ?? e.count ?? 1}</td>
      <td>${age(new Date(eventTime(e)).toISOString(), now)}</td></tr>`)}</tbody></table></div>`;
}

// A section with one table of a kind's objects: NAME, NAMESPACE, the kind's columns, then
// whatever `more` adds (rollout, age, actions). Rows update in place.
export function kindSection(container, kind, objects, { more = [], empty = "None.", nameLink = null } = {}) {
  let section = container.querySelector(`section[data-kind="${kind.kind}"]`);
  if (!section) {
    section = document.createElement("section");
    section.dataset.kind = kind.kind;
    section.className = "kind-section";
    const plural = kind.kind.endsWith("s") ? `${kind.kind}es` : kind.kind.endsWith("y") ? `${kind.kind.slice(0, -1)}ies` : `${kind.kind}s`;
    section.innerHTML = html`<h2 id="section-${kind.kind}">${plural}</h2>
      <div class="table-wrap"><table aria-labelledby="section-${kind.kind}"><thead><tr><th scope="col">NAME</th><th scope="col">NAMESPACE</th>
      ${(kind.columns || []).map(([title]) => html`<th scope="col">${title}</th>`)}
      ${more.map(([title]) => html`<th scope="col">${title}</th>`)}<th scope="col">AGE</th></tr></thead><tbody></tbody></table></div>
      <p class="empty" hidden>${empty}</p>`.text;
    container.appendChild(section);
  }
  const now = Date.now();
  const sorted = objects.sort((a, b) => (a.metadata.namespace || "").localeCompare(b.metadata.namespace || "") || a.metadata.name.localeCompare(b.metadata.name));
  section.querySelector("p.empty").hidden = sorted.length > 0;
  patchList(section.querySelector("tbody"), sorted, (o) => `${o.metadata.namespace}/${o.metadata.name}`, (o) => html`<tr>
    <th scope="row">${nameLink ? html`<a href="${nameLink(o)}">${o.metadata.name}</a>` : o.metadata.name}</th><td>${o.metadata.namespace || ""}</td>
    ${(kind.columns || []).map(([, cell]) => html`<td>${cell(o)}</td>`)}
    ${more.map(([, cell]) => html`<td>${cell(o)}</td>`)}<td>${age(o.metadata.creationTimestamp, now)}</td></tr>`, "tr");
  return section;
}

// A page made of named parts, each its own element whose content is replaced only when its
// own HTML changes (so a part holding buttons is not redrawn because a bar next to it moved).
export function parts(container, names, content) {
  const have = [...container.children].map((c) => c.dataset.part).join(",");
  if (have !== names.join(",")) {
    container.innerHTML = names.map((n) => `<div data-part="${n}"></div>`).join("");
  }
  for (const name of names) setHTML(container.querySelector(`[data-part="${name}"]`), content[name]);
}

export function heading(root, text) {
  let h = root.querySelector("h1");
  if (!h) {
    h = document.createElement("h1");
    h.tabIndex = -1;
    root.prepend(h);
  }
  if (h.textContent !== text) h.textContent = text;
}

export { $, setHTML };
