// The exec console on a pod's page: a command in a container, line by line, without a terminal.
//
// No terminal emulator ships with the dashboard, so the command runs without a TTY (as
// `pyctl exec -i` from a pipe): a line typed here goes to its stdin with a newline, its stdout
// and stderr are appended to a <pre> (escape sequences stripped, the last KEEP_LINES lines
// kept). Keys, in the input line: Enter sends, Ctrl-D sends what is typed and ends stdin,
// Ctrl-C ends the session (without a TTY there is no signal to send: the API server stops the
// command when its connection closes, as when kubectl is interrupted), Up/Down recall lines.

import { html } from "./dom.js";

export const KEEP_LINES = 5000;
export const KEEP_CHARS = 1 << 20; // and a megabyte of text, for output that never ends a line
const NODE_CHARS = 65536; // a new text node past this size, so appending stays cheap
const HISTORY = 100;

// CSI (colours, cursor moves), OSC (titles, ended by BEL or ST), the other escapes (ESC, any
// intermediate bytes, a final one: `ESC (B`, `ESC =`), and the control characters a
// line-oriented console cannot show (tab and newline stay).
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]|[\x00-\x08\x0b-\x1f\x7f]/g;
const CUT_ESCAPE = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|[ -/]*)$/; // an escape the next chunk finishes

// `text` without escape sequences, and the start of one it ends with (kept for the next chunk).
export function stripAnsi(text) {
  const cut = text.match(CUT_ESCAPE);
  const whole = cut ? text.slice(0, cut.index) : text;
  return [whole.replace(/\r\n/g, "\n").replace(ESCAPES, ""), cut ? cut[0] : ""];
}

// A command line split as a shell would split words: quotes group, a backslash escapes.
export function splitCommand(line) {
  const words = [];
  let word = null, quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = "";
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word = word ?? "";
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} in the command`);
  if (word !== null) words.push(word);
  return words;
}

const shellWord = (w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\"'\"'")}'`);

export function section() {
  return html`<section aria-labelledby="exec-h" class="exec"><h2 id="exec-h">Exec</h2>
    <form class="log-controls" id="exec-start">
      <label>Container <select name="container" id="exec-container"></select></label>
      <label>Command <input name="command" id="exec-command" value="sh" autocomplete="off" spellcheck="false"></label>
      <button type="submit" id="exec-run">Run</button>
      <span id="exec-state" class="muted" aria-live="polite"></span>
    </form>
    <div id="exec-console" hidden>
      <p class="muted exec-line"><code id="exec-shown"></code></p>
      <pre id="exec-out" class="log exec-out" tabindex="0" aria-label="command output"></pre>
      <form id="exec-input-form" class="exec-input">
        <label for="exec-input">stdin</label>
        <input id="exec-input" autocomplete="off" spellcheck="false" aria-describedby="exec-keys">
        <button type="submit" id="exec-send">Send</button>
        <button type="button" id="exec-eof">End input</button>
        <button type="button" id="exec-stop">Stop</button>
        <button type="button" id="exec-close">Close</button>
      </form>
      <p id="exec-keys" class="muted">No terminal: each line goes to the command's stdin. Enter sends, Ctrl-D ends stdin,
        Ctrl-C stops the command, Up and Down recall earlier lines.</p>
    </div>
  </section>`;
}

// One console per pod page; `stop()` when the page goes.
export class ExecConsole {
  constructor(root, streams, namespace, pod) {
    this.streams = streams;
    this.namespace = namespace;
    this.pod = pod;
    this.el = (id) => root.querySelector(`#${id}`);
    this.session = null;
    this.history = [];
    this.recall = 0;
    this.pending = [];
    this.carry = {};
    this.lines = 0;
    this.chars = 0;
    this.el("exec-start").addEventListener("submit", (ev) => { ev.preventDefault(); this.start(); });
    this.el("exec-input-form").addEventListener("submit", (ev) => { ev.preventDefault(); this.sendLine(); });
    this.el("exec-console").addEventListener("keydown", (ev) => this.onKey(ev));
    this.el("exec-eof").addEventListener("click", () => this.endInput());
    this.el("exec-stop").addEventListener("click", () => this.stopSession("stopped"));
    this.el("exec-close").addEventListener("click", () => this.close());
  }

  // The containers to choose from, as the pod's spec lists them; `preferred` first chosen.
  setContainers(names, preferred) {
    const select = this.el("exec-container");
    const key = names.join(",");
    if (select._names === key) return;
    const chosen = select.value || preferred || names[0] || "";
    select._names = key;
    select.innerHTML = names.map((n) => html`<option value="${n}"${n === chosen ? html` selected` : ""}>${n}</option>`.text).join("");
  }

  start() {
    this.stopSession(null);
    const container = this.el("exec-container").value;
    let command;
    try {
      command = splitCommand(this.el("exec-command").value);
    } catch (e) {
      this.setState(e.message, true);
      return;
    }
    if (!container || !command.length) {
      this.setState(command.length ? "choose a container" : "type a command to run", true);
      return;
    }
    const out = this.el("exec-out");
    out.textContent = "";
    this.lines = 0;
    this.chars = 0;
    this.carry = {};
    this.pending = [];
    this.el("exec-shown").textContent = `pyctl exec -i ${this.pod} -n ${this.namespace} -c ${container} -- ${command.map(shellWord).join(" ")}`;
    this.el("exec-console").hidden = false;
    this.setInputOpen(true);
    this.setState("running…");
    const session = this.streams.exec({ namespace: this.namespace, pod: this.pod, container, command }, {
      onText: (text, stream) => this.append(text, stream),
      onEnd: (end) => this.ended(session, end),
    });
    this.session = session;
    this.el("exec-input").focus();
  }

  ended(session, { code, status, exitCode }) {
    if (this.session !== session) return;
    this.session = null;
    this.flushCarry();
    this.setInputOpen(false);
    if (code === 0) this.setState("connection to the dashboard lost: Run again to go on", true);
    else if (code >= 400) this.setState(status?.message || `HTTP ${code}`, true);
    else if (exitCode === null || exitCode === undefined) this.setState(status?.message || "the command failed", true);
    else this.setState(`exited with code ${exitCode}`, exitCode !== 0);
    // The input line is disabled now: keep the keyboard in the console, on its output.
    if (this.el("exec-console").contains(document.activeElement) || document.activeElement === document.body) {
      this.el("exec-out").focus({ preventScroll: true });
    }
  }

  // Keys anywhere in the console (the input line, the output, its buttons); Ctrl-D and the
  // history only in the input line.
  onKey(ev) {
    const input = this.el("exec-input");
    const inInput = ev.target === input;
    const ctrl = ev.ctrlKey && !ev.altKey && !ev.metaKey;
    if (ctrl && inInput && (ev.key === "d" || ev.key === "D")) {
      ev.preventDefault();
      this.endInput();
    } else if (ctrl && (ev.key === "c" || ev.key === "C") && this.session && !selected(inInput ? input : null)) {
      ev.preventDefault(); // with something selected, Ctrl-C copies it
      this.stopSession("^C: stopped");
    } else if (inInput && (ev.key === "ArrowUp" || ev.key === "ArrowDown")) {
      if (!this.history.length) return;
      ev.preventDefault();
      this.recall = Math.max(0, Math.min(this.history.length, this.recall + (ev.key === "ArrowUp" ? -1 : 1)));
      input.value = this.history[this.recall] ?? "";
    }
  }

  sendLine() {
    if (!this.session) return;
    const input = this.el("exec-input");
    const line = input.value;
    input.value = "";
    if (line && this.history[this.history.length - 1] !== line) this.history.push(line);
    if (this.history.length > HISTORY) this.history.shift();
    this.recall = this.history.length;
    this.append(`${line}\n`, "stdin"); // no terminal echoes it: the console does
    this.session.write(`${line}\n`);
  }

  // What is typed goes first (without a newline, as a terminal's Ctrl-D), then stdin ends.
  endInput() {
    if (!this.session) return;
    const input = this.el("exec-input");
    if (input.value) {
      this.append(input.value, "stdin");
      this.session.write(input.value);
      input.value = "";
    }
    this.session.eof();
    this.setInputOpen(false, true);
    this.el("exec-stop").focus(); // the input line is disabled: keep the keyboard in the console
    this.setState("stdin closed; running…");
  }

  stopSession(why) {
    if (!this.session) return;
    this.session.close(); // the API server stops the command when its connection closes
    this.session = null;
    this.flushCarry();
    this.setInputOpen(false);
    if (why) this.setState(why, true);
  }

  close() {
    this.stopSession(null);
    this.el("exec-console").hidden = true;
    this.el("exec-out").textContent = "";
    this.setState("");
    this.el("exec-command").focus();
  }

  stop() {
    this.stopSession(null);
  }

  setInputOpen(open, keepStop = false) {
    for (const id of ["exec-input", "exec-send", "exec-eof"]) this.el(id).disabled = !open;
    this.el("exec-stop").disabled = !(open || keepStop);
  }

  setState(text, problem = false) {
    const state = this.el("exec-state");
    state.textContent = text;
    state.className = problem ? "error" : "muted";
    state.setAttribute("role", problem ? "alert" : "status");
  }

  append(text, stream) {
    let clean = text;
    if (stream !== "stdin") {
      const [whole, cut] = stripAnsi((this.carry[stream] || "") + text);
      this.carry[stream] = cut;
      clean = whole;
    }
    if (!clean) return;
    this.pending.push([stream, clean]);
    if (this.pending.length === 1) requestAnimationFrame(() => this.flush());
  }

  // At the end: what is left of an unfinished escape sequence is not text.
  flushCarry() {
    this.carry = {};
    this.flush();
  }

  // Appends what came since the last frame, then drops the oldest lines past KEEP_LINES.
  flush() {
    const out = this.el("exec-out");
    const batch = this.pending.splice(0);
    if (!batch.length) return;
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    for (const [stream, text] of batch) {
      const last = out.lastChild;
      // Output runs on in one node; each line typed keeps its own (its mark, in style.css).
      if (last && stream !== "stdin" && last.dataset.stream === stream && last.textContent.length < NODE_CHARS) {
        last.textContent += text;
      }
      else {
        const span = document.createElement("span");
        span.dataset.stream = stream;
        span.className = stream;
        span.textContent = text;
        out.append(span);
      }
      this.lines += newlines(text);
      this.chars += text.length;
    }
    // The oldest text goes: whole nodes, then the front of one, until both limits hold.
    while ((this.lines > KEEP_LINES || this.chars > KEEP_CHARS) && out.firstChild) {
      const first = out.firstChild;
      const text = first.textContent;
      let cut = Math.min(Math.max(0, this.chars - KEEP_CHARS), text.length);
      for (let k = this.lines - KEEP_LINES, at = -1; k > 0 && cut < text.length; k--) {
        at = text.indexOf("\n", at + 1);
        cut = Math.max(cut, at < 0 ? text.length : at + 1);
        if (at < 0) break;
      }
      const gone = cut >= text.length ? text : text.slice(0, cut);
      if (gone === text) first.remove();
      else first.textContent = text.slice(cut);
      this.lines -= newlines(gone);
      this.chars -= gone.length;
    }
    if (atEnd) out.scrollTop = out.scrollHeight;
  }
}

function selected(input) {
  if (input && input.selectionStart !== input.selectionEnd) return true;
  return !input && String(window.getSelection() || "") !== "";
}

function newlines(text) {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}
