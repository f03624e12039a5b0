// Events, newest first, with a Warning-only switch and a text filter.

import { html, setHTML } from "../dom.js";
import { eventRows, heading, sortEvents } from "./common.js";

const SHOWN = 300;

export function title() {
  return "Events";
}

export function mount(root) {
  root.innerHTML = html`<h1 tabindex="-1">Events</h1>
    <form class="filters" role="search" aria-label="Filter events" id="event-filters">
      <label class="check"><input type="checkbox" name="warnings" id="warnings-only"> Warnings only</label>
      <label>Contains <input type="search" name="text" id="event-text" autocomplete="off"></label>
    </form>
    <p id="event-count" class="muted" aria-live="polite"></p>
    <div id="event-list"></div>`.text;
  root.querySelector("#event-filters").addEventListener("input", () => window.__dashboard.scheduler.request());
  root.querySelector("#event-filters").addEventListener("submit", (ev) => ev.preventDefault());
}

export function render(ctx) {
  const root = document.getElementById("main");
  heading(root, "Events");
  const warnings = root.querySelector("#warnings-only").checked;
  const text = root.querySelector("#event-text").value.trim().toLowerCase();
  const all = sortEvents(ctx.list("Event").filter(ctx.inNamespace).filter((e) => (!warnings || e.type === "Warning") &&
    (!text || `${e.reason} ${e.message} ${e.involvedObject?.name}`.toLowerCase().includes(text))));
  root.querySelector("#event-count").textContent = ctx.inf.Event?.synced
    ? `${all.length} event${all.length === 1 ? "" : "s"}${all.length > SHOWN ? `, the newest ${SHOWN} shown` : ""}` : "Loading…";
  setHTML(root.querySelector("#event-list"), eventRows(all.slice(0, SHOWN)));
}
