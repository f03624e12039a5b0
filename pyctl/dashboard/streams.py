"""One WebSocket per browser tab, carrying many API streams (watches and followed logs).

A browser keeps at most six HTTP/1.1 connections per host, and the page needs a watch per
kind plus a log or two: over plain fetches they would queue behind each other. So the tab
opens one WebSocket here and asks for streams on it:

    browser → {"op": "open", "id": 7, "path": "/api/v1/pods?watch=1&...", "mode": "lines"}
    browser → {"op": "close", "id": 7}
    server  → {"id": 7, "events": [<watch event>, ...]}    mode "lines": complete JSON lines
    server  → {"id": 7, "text": "..."}                      mode "text": a log, as it comes
    server  → {"id": 7, "end": true, "code": 200, "status": <metav1.Status or null>}

Each stream is a GET of the API with the user's credentials (so RBAC decides), relayed
without decoding: a burst of watch events becomes one message of many events. Exec sessions
(ops "exec", "stdin", "eof") share the socket and its ids; execs.py owns them.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from .execs import BadExec, ExecRequest, ExecSession
from .upstream import Upstream, status

log = logging.getLogger(__name__)

MAX_STREAMS = 64  # per tab: the page opens about ten; more means a bug or abuse
MAX_EXECS = 8  # exec sessions per tab, within MAX_STREAMS
MAX_MESSAGE = 1 << 20  # bytes of raw events relayed in one WebSocket message
MODES = ("lines", "text")


def valid_path(path: Any) -> bool:
    """An API path of this server's API (never a full URL, never outside /api and /apis)."""
    if not isinstance(path, str) or not path.startswith(("/api/", "/apis/")):
        return False
    bare = path.split("?", 1)[0]
    return ".." not in bare.split("/") and "\\" not in path and "#" not in path


class Mux:
    """The streams of one WebSocket."""

    def __init__(self, upstream: Upstream, ws: web.WebSocketResponse) -> None:
        self.upstream = upstream
        self.ws = ws
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.execs: dict[int, ExecSession] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await self.ws.send_str(text)

    async def handle(self, message: str) -> None:
        try:
            msg = json.loads(message)
            op, sid = msg.get("op"), msg.get("id")
        except (ValueError, AttributeError):
            return
        if not isinstance(sid, int):
            return
        if op == "close":
            task = self.tasks.pop(sid, None)
            self.execs.pop(sid, None)
            if task is not None:
                task.cancel()
            return
        if op in ("exec", "stdin", "eof"):
            await self._exec_op(op, sid, msg)
            return
        if op != "open":
            return
        path, mode = msg.get("path"), msg.get("mode", "lines")
        if not valid_path(path) or mode not in MODES:
            await self._end(sid, 400, status(400, "BadRequest", f"not an API stream: {path!r} ({mode!r})"))
            return
        if sid in self.tasks or len(self.tasks) >= MAX_STREAMS:
            await self._end(sid, 429, status(429, "TooManyRequests", "too many streams on this page"))
            return
        self.tasks[sid] = asyncio.create_task(self._relay(sid, path, mode))

    async def _exec_op(self, op: str, sid: int, msg: dict[str, Any]) -> None:
        session = self.execs.get(sid)
        if op == "stdin" and session is not None:
            data = msg.get("data")
            if isinstance(data, str) and not session.write(data):
                await self.send(json.dumps({"id": sid, "text": "[dashboard] input dropped: the command "
                                            "is not reading its stdin\n", "stream": "dashboard"}))
        elif op == "eof" and session is not None:
            session.end_input()
        elif op == "exec":
            try:
                request = ExecRequest.parse(msg)
            except BadExec as exc:
                await self._end(sid, 400, status(400, "BadRequest", str(exc)))
                return
            if sid in self.tasks or len(self.tasks) >= MAX_STREAMS or len(self.execs) >= MAX_EXECS:
                await self._end(sid, 429, status(429, "TooManyRequests", "too many streams on this page"))
                return
            self.execs[sid] = ExecSession(self.upstream, request, lambda m: self.send(json.dumps(m)), sid)
            self.tasks[sid] = asyncio.create_task(self._exec(sid, self.execs[sid]))

    async def _exec(self, sid: int, session: ExecSession) -> None:
        try:
            end = await session.run()
        finally:
            if self.tasks.get(sid) is asyncio.current_task():
                del self.tasks[sid]
                self.execs.pop(sid, None)
        await self.send(json.dumps(end))

    async def _end(self, sid: int, code: int, body: dict[str, Any] | None) -> None:
        await self.send(json.dumps({"id": sid, "end": True, "code": code, "status": body}))

    async def _relay(self, sid: int, path: str, mode: str) -> None:
        code, body = 200, None
        try:
            accept = "application/json" if mode == "lines" else "text/plain, */*"
            resp = await self.upstream.get(path, accept)
        except (aiohttp.ClientError, OSError) as exc:
            code, body = 502, status(502, "ServiceUnavailable",
                                     f"the dashboard cannot reach the API server: {exc}")
        else:
            try:
                code = resp.status
                if code >= 400:
                    raw = await resp.read()
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = status(code, "", raw.decode(errors="replace")[:500])
                elif mode == "lines":
                    await self._lines(sid, resp)
                else:
                    await self._text(sid, resp)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass  # the stream broke: the page resumes from what it has seen
            finally:
                resp.release()
        finally:
            if self.tasks.get(sid) is asyncio.current_task():
                del self.tasks[sid]
        await self._end(sid, code, body)

    async def _lines(self, sid: int, resp: aiohttp.ClientResponse) -> None:
        head = b'{"id":%d,"events":[' % sid
        pending = b""
        async for chunk in resp.content.iter_any():
            pending += chunk
            cut = pending.rfind(b"\n")
            if cut < 0:
                continue
            complete, pending = pending[:cut], pending[cut + 1:]
            lines = [line for line in complete.split(b"\n") if line.strip()]
            # Relayed as they are: the API's own JSON, joined into one array per message.
            batch: list[bytes] = []
            size = 0
            for line in lines:
                if batch and size + len(line) > MAX_MESSAGE:
                    await self.send((head + b",".join(batch) + b"]}").decode("utf-8", errors="replace"))
                    batch, size = [], 0
                batch.append(line)
                size += len(line)
            if batch:
                await self.send((head + b",".join(batch) + b"]}").decode("utf-8", errors="replace"))

    async def _text(self, sid: int, resp: aiohttp.ClientResponse) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async for chunk in resp.content.iter_any():
            text = decoder.decode(chunk)
            if text:
                await self.send(json.dumps({"id": sid, "text": text}))
        tail = decoder.decode(b"", final=True)
        if tail:
            await self.send(json.dumps({"id": sid, "text": tail}))

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        self.tasks.clear()
        self.execs.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve(upstream: Upstream, request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await ws.prepare(request)
    mux = Mux(upstream, ws)
    try:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await mux.handle(msg.data)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                break
    finally:
        await mux.close()
    return ws
