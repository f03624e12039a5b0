// The page's three ways to the cluster, all through the dashboard server (pyctl/dashboard):
//   get(path)              a GET through its read-only proxy (discovery, one object)
//   streams.open(...)      a watch or a followed log, multiplexed on one WebSocket
//   action(name, params)   a change, run by the server as the pyctl command it shows

export class ApiError extends Error {
  constructor(status) {
    super(status.message || `HTTP ${status.code}`);
    this.status = status;
    this.code = status.code;
  }
}

async function statusOf(resp) {
  try {
    const body = await resp.json();
    if (body && body.kind === "Status") return body;
  } catch (_) { /* not JSON */ }
  return { kind: "Status", code: resp.status, message: `${resp.status} ${resp.statusText}` };
}

// A GET; a request the browser itself dropped (the machine's network changed under it:
// ERR_NETWORK_CHANGED) is tried again a few times, an answer from the server never is.
export async function get(path, tries = 5) {
  for (let attempt = 1; ; attempt++) {
    let resp;
    try {
      resp = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (e) {
      if (attempt >= tries) throw e;
      await new Promise((done) => setTimeout(done, 200 * attempt));
      continue;
    }
    if (!resp.ok) throw new ApiError(await statusOf(resp));
    return resp.json();
  }
}

// POST /dashboard/actions/NAME; with preview, only the command line it would run.
export async function action(name, params, preview = false) {
  const resp = await fetch(`/dashboard/actions/${encodeURIComponent(name)}${preview ? "?preview=1" : ""}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(params),
  });
  if (!resp.ok) throw new ApiError(await statusOf(resp));
  return resp.json();
}

const STDIN_PIECE = 8192; // characters of stdin per message

// One WebSocket carrying many streams; reconnects by itself, and each stream learns of a lost
// socket through onEnd (code 0) so its owner can resume.
export class Streams {
  constructor(onState) {
    this.next = 1;
    this.handlers = new Map();
    this.queue = [];
    this.onState = onState || (() => {});
    this.retry = 500;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${scheme}://${location.host}/dashboard/streams`);
    this.ws.onopen = () => {
      this.retry = 500;
      this.onState("live");
      for (const m of this.queue.splice(0)) this.ws.send(m);
    };
    this.ws.onmessage = (ev) => this.dispatch(JSON.parse(ev.data));
    this.ws.onclose = () => {
      this.onState("reconnecting");
      const lost = [...this.handlers.values()];
      this.handlers.clear();
      for (const h of lost) h.onEnd({ code: 0, status: null });
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  send(msg) {
    const text = JSON.stringify(msg);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    else this.queue.push(text);
  }

  dispatch(msg) {
    const h = this.handlers.get(msg.id);
    if (!h) return;
    if (msg.events) h.onEvents(msg.events);
    else if (msg.text !== undefined) h.onText(msg.text, msg.stream);
    else if (msg.end) {
      this.handlers.delete(msg.id);
      h.onEnd({ code: msg.code, status: msg.status, exitCode: msg.exitCode });
    }
  }

  // A command in a container (pyctl/dashboard/execs.py): onText(chunk, "stdout" | "stderr"),
  // onEnd({code, status, exitCode}). Returns the session's stdin and its end.
  exec(request, { onText = () => {}, onEnd = () => {} }) {
    const id = this.next++;
    this.handlers.set(id, { onEvents: () => {}, onText, onEnd });
    this.send({ op: "exec", id, ...request });
    const live = () => this.handlers.has(id);
    return {
      // In pieces well under the dashboard's 64 KiB message limit, never splitting a character.
      write: (data) => {
        for (let i = 0, end; live() && i < data.length; i = end) {
          end = Math.min(i + STDIN_PIECE, data.length);
          if (end < data.length && /[\ud800-\udbff]/.test(data[end - 1])) end--;
          this.send({ op: "stdin", id, data: data.slice(i, end) });
        }
      },
      eof: () => { if (live()) this.send({ op: "eof", id }); },
      close: () => { if (this.handlers.delete(id)) this.send({ op: "close", id }); },
    };
  }

  // mode "lines": onEvents(list of watch events); mode "text": onText(chunk). Returns a closer.
  open(path, mode, { onEvents = () => {}, onText = () => {}, onEnd = () => {} }) {
    const id = this.next++;
    this.handlers.set(id, { onEvents, onText, onEnd });
    this.send({ op: "open", id, path, mode });
    return () => {
      if (this.handlers.delete(id)) this.send({ op: "close", id });
    };
  }
}
