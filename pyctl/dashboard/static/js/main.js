// The page: discovery, the informers, the router and the shared controls (namespace, status).

import { Streams, get } from "./api.js";
import { confirmAction } from "./dialog.js";
import { $, esc } from "./dom.js";
import { discover } from "./kinds.js";
import { Informer, RenderScheduler } from "./store.js";
import * as events from "./views/events.js";
import * as overview from "./views/overview.js";
import * as pods from "./views/pods.js";
import * as services from "./views/services.js";
import * as workloads from "./views/workloads.js";

// The pages, in the order of the navigation bar. A page is a module with
// title, mount(root, ctx, params), render(ctx, params) and optionally unmount().
const PAGES = { overview, workloads, pods, services, events };

const ctx = {
  kinds: new Map(),
  inf: {},
  namespace: "",
  config: {},
  action: (name, params, options) => confirmAction(ctx, name, params, options),
  navigate: (hash) => { location.hash = hash; },
  served: (kind) => ctx.kinds.has(kind),
  list: (kind) => (ctx.inf[kind] ? ctx.inf[kind].list() : []),
  inNamespace: (obj) => !ctx.namespace || obj.metadata.namespace === ctx.namespace,
};

let current = null; // {name, module, params}
const scheduler = new RenderScheduler(() => renderCurrent());
window.__dashboard = { ctx, scheduler }; // for the browser tests and the benchmark

function parseHash() {
  const [path, query] = (location.hash.replace(/^#\/?/, "") || "overview").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  return { name: PAGES[parts[0]] ? parts[0] : "overview", rest: parts.slice(1), params };
}

function route() {
  const { name, rest, params } = parseHash();
  const main = $("#main");
  if (current && current.module.unmount) current.module.unmount(ctx);
  current = { name, module: PAGES[name], params: { ...params, rest } };
  for (const a of document.querySelectorAll("nav.pages a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.innerHTML = "";
  main._keyed = undefined;
  current.module.mount(main, ctx, current.params);
  document.title = `${current.module.title(ctx, current.params)} · pyctl dashboard`;
  renderCurrent();
  const heading = main.querySelector("h1");
  if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
}

function renderCurrent() {
  if (!current) return;
  current.module.render(ctx, current.params);
  renderNamespaces();
  renderProblems();
}

function renderNamespaces() {
  const select = $("#namespace");
  const names = ctx.list("Namespace").map((n) => n.metadata.name).sort();
  const key = names.join(",");
  if (select._names === key) return;
  select._names = key;
  const chosen = ctx.namespace;
  select.innerHTML = `<option value="">All namespaces</option>` +
    names.map((n) => `<option value="${esc(n)}"${n === chosen ? " selected" : ""}>${esc(n)}</option>`).join("");
}

// A watch the user may not do (RBAC) says so once, at the top, with the API's message.
function renderProblems() {
  const box = $("#problems");
  const problems = Object.values(ctx.inf).filter((i) => i.error).map((i) => `${i.kind.kind}: ${i.error.message || ""}`);
  const text = problems.join("\n");
  if (box._text === text) return;
  box._text = text;
  box.hidden = !problems.length;
  box.textContent = problems.length ? `Some kinds cannot be watched:\n${text}` : "";
}

function setConnection(state) {
  const el = $("#connection");
  el.textContent = state === "live" ? "Live" : "Reconnecting…";
  el.className = `connection ${state}`;
}

async function boot() {
  sessionStorage.removeItem("pyctl-reloads"); // the page loaded: index.html may reload again later
  ctx.config = await get("/dashboard/config");
  ctx.namespace = ctx.config.namespace || "";
  $("#cluster").textContent = ctx.config.context ? `${ctx.config.context} · ${ctx.config.server}` : ctx.config.server;
  const streams = new Streams(setConnection);
  ctx.streams = streams;
  ctx.kinds = await discover(get);
  for (const [name, kind] of ctx.kinds) {
    ctx.inf[name] = new Informer(kind, streams, get, () => scheduler.request());
    ctx.inf[name].start();
  }
  const select = $("#namespace");
  select.addEventListener("change", () => {
    ctx.namespace = select.value;
    scheduler.request();
  });
  window.addEventListener("hashchange", route);
  // Ages move on even when nothing changes.
  setInterval(() => scheduler.request(), 10000);
  route();
}

boot().catch((e) => {
  const main = $("#main");
  main.innerHTML = `<h1>Cannot start</h1><p class="error" role="alert">${esc(e.message || e)}</p>`;
});
