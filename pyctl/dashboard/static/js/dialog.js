// The confirmation dialog every action goes through: what it will do, the pyctl command it
// runs (asked of the server, which alone builds command lines), then the outcome. A refusal
// shows what the command printed: the API server's own message.

import { ApiError, action } from "./api.js";
import { $, esc, html, raw } from "./dom.js";

// options: {title, text, confirm, danger, fields: [{name, label, type, value, min, options, numeric}]}
export function confirmAction(ctx, name, params, options = {}) {
  const dialog = $("#action-dialog");
  const fields = options.fields || [];
  const values = () => {
    const out = { ...params };
    for (const f of fields) {
      const input = dialog.querySelector(`[name="${f.name}"]`);
      if (f.type === "number") out[f.name] = input.value === "" ? null : Number(input.value);
      else if (f.type === "checks") out[f.name] = [...dialog.querySelectorAll(`[name="${f.name}"]:checked`)].map((c) => c.value);
      else out[f.name] = f.numeric ? Number(input.value) : input.value;
    }
    return out;
  };
  dialog.innerHTML = html`
    <form method="dialog" class="action-form">
      <h2 id="action-title">${options.title || name}</h2>
      ${options.text ? html`<p>${options.text}</p>` : ""}
      ${fields.map((f) => field(f))}
      <p class="command-line">Runs: <code id="action-command">…</code></p>
      <div id="action-outcome" role="alert" aria-live="assertive"></div>
      <div class="buttons">
        <button type="button" value="cancel" id="action-cancel">Cancel</button>
        <button type="submit" value="confirm" id="action-confirm" class="${options.danger ? "danger" : "primary"}">${options.confirm || "Confirm"}</button>
      </div>
    </form>`.text;
  dialog.setAttribute("aria-labelledby", "action-title");
  const command = $("#action-command", dialog);
  const outcome = $("#action-outcome", dialog);
  const confirm = $("#action-confirm", dialog);
  const preview = async () => {
    try {
      command.textContent = (await action(name, values(), true)).command;
      confirm.disabled = false;
      outcome.textContent = "";
    } catch (e) {
      command.textContent = "—";
      confirm.disabled = true;
      outcome.innerHTML = html`<p class="error">${e.message}</p>`.text;
    }
  };
  // On the form, which is new for each action (the dialog element itself is reused).
  $("form", dialog).addEventListener("input", preview);
  $("#action-cancel", dialog).addEventListener("click", () => dialog.close("cancel"));
  $("form", dialog).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (confirm.dataset.done) {
      dialog.close("done");
      return;
    }
    confirm.disabled = true;
    confirm.textContent = "Working…";
    outcome.innerHTML = "";
    let result;
    try {
      result = await action(name, values());
    } catch (e) {
      result = { ok: false, err: e instanceof ApiError ? e.message : String(e), out: "" };
    }
    if (result.ok) {
      dialog.close("done");
      toast(result.out.trim() || `${name}: done`);
      return;
    }
    outcome.innerHTML = html`<p class="error"><strong>Refused.</strong></p>
      <pre class="error-text">${(result.err || result.out || "").trim()}</pre>`.text;
    confirm.disabled = false;
    confirm.dataset.done = "1";
    confirm.textContent = "Close";
    $("#action-cancel", dialog).hidden = true;
    confirm.focus();
  });
  preview();
  dialog.showModal();
  const first = dialog.querySelector("input, select") || confirm;
  first.focus();
}

function field(f) {
  if (f.type === "checks") {
    return html`<fieldset><legend>${f.label}</legend>${f.options.map(([value, label]) => html`
      <label class="check"><input type="checkbox" name="${f.name}" value="${value}"> ${label}</label>`)}</fieldset>`;
  }
  if (f.type === "select") {
    return html`<label>${f.label} <select name="${f.name}">${f.options.map(([value, label]) =>
      html`<option value="${value}"${raw(String(value) === String(f.value) ? " selected" : "")}>${label}</option>`)}</select></label>`;
  }
  return html`<label>${f.label} <input name="${f.name}" type="${f.type || "text"}" value="${f.value ?? ""}"
    ${raw(f.min !== undefined ? `min="${esc(f.min)}"` : "")} required></label>`;
}

let toastTimer = null;
export function toast(text) {
  const el = $("#toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}
