// DOM helpers: escaping, and keyed updates that touch only what changed.
//
// Views describe each row or card as an HTML string built with `html` (which escapes every
// interpolated value); `patchList` keeps one element per key and replaces it only when its
// string changed, so 500 node cards or a page of pods cost little when one of them moves.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// A trusted fragment: `html` inserts it as is (anything else it escapes).
export class Raw {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

export const raw = (text) => new Raw(text);

function part(value) {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === null || value === undefined || value === false) return "";
  return esc(value);
}

// Tagged template: html`<td>${name}</td>` escapes `name`; nested html`` fragments pass through.
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Raw(out);
}

function fromHTML(text, tag) {
  const holder = document.createElement(tag === "tr" ? "tbody" : "div");
  holder.innerHTML = text;
  return holder.firstElementChild;
}

// Make `container`'s children the elements for `items`, in order. `render(item)` returns a
// Raw HTML string with exactly one root element of tag `tag`; unchanged items are kept.
export function patchList(container, items, key, render, tag = "div") {
  const cache = container._keyed || (container._keyed = new Map());
  const seen = new Set();
  let cursor = container.firstElementChild;
  const focusedKey = focusKey(container);
  for (const item of items) {
    const k = key(item);
    seen.add(k);
    const text = render(item).text;
    let entry = cache.get(k);
    if (!entry || entry.text !== text) {
      const el = fromHTML(text, tag);
      el.dataset.key = k;
      if (entry) {
        if (cursor === entry.el) cursor = el;
        entry.el.replaceWith(el);
      }
      entry = { el, text };
      cache.set(k, entry);
    }
    if (entry.el !== cursor) container.insertBefore(entry.el, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const [k, entry] of cache) {
    if (!seen.has(k)) {
      entry.el.remove();
      cache.delete(k);
    }
  }
  // Drop strays (e.g. a placeholder written with innerHTML).
  for (const child of [...container.children]) {
    if (!child.dataset.key || !seen.has(child.dataset.key)) child.remove();
  }
  restoreFocus(container, focusedKey);
}

// Keep keyboard focus when the row holding it is redrawn: remember which control it was.
function focusKey(container) {
  const active = document.activeElement;
  if (!active || !container.contains(active)) return null;
  const row = active.closest("[data-key]");
  return row ? { row: row.dataset.key, control: controlKey(active) } : null;
}

function restoreFocus(container, remembered) {
  if (!remembered || container.contains(document.activeElement)) return;
  const row = [...container.children].find((el) => el.dataset.key === remembered.row);
  if (!row) return;
  const target = [...row.querySelectorAll("button, a, input, select, [tabindex]")].find(
    (el) => controlKey(el) === remembered.control);
  (target || row).focus?.();
}

// Replace an element's content when it changed, keeping focus on the same control (by its
// data-focus, aria-label or text) if it had it.
export function setHTML(el, fragment) {
  const text = fragment instanceof Raw ? fragment.text : esc(fragment);
  if (el._html === text) return;
  const active = document.activeElement;
  const remembered = active && el.contains(active) ? controlKey(active) : null;
  el.innerHTML = text;
  el._html = text;
  el._keyed = undefined;
  if (remembered !== null) {
    const again = [...el.querySelectorAll("button, a, input, select, summary, [tabindex]")].find((c) => controlKey(c) === remembered);
    if (again) again.focus({ preventScroll: true });
  }
}

function controlKey(el) {
  return el.dataset.focus || el.getAttribute("aria-label") || el.textContent;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}
