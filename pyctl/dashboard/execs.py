"""Exec sessions on the page's WebSocket: a command in a container, line by line, no terminal.

The page has no terminal emulator (none ships in the package, and none is written here), so a
session runs without a TTY (`tty=false`), as `pyctl exec -i` does from a pipe: the page sends
what the user typed as stdin, and shows stdout and stderr as text. On the tab's WebSocket
(streams.py), beside its watches and logs:

    browser → {"op": "exec", "id": 9, "namespace": "default", "pod": "web", "container": "c",
               "command": ["sh"]}
    browser → {"op": "stdin", "id": 9, "data": "ls /\\n"}
    browser → {"op": "eof", "id": 9}                stdin ends (the page's Ctrl-D)
    browser → {"op": "close", "id": 9}              the session ends; the API server stops the command
    server  → {"id": 9, "text": "...", "stream": "stdout" | "stderr"}
    server  → {"id": 9, "end": true, "code": 200, "status": <final Status>, "exitCode": 0}

Each session is the API's own `pods/exec` WebSocket, opened with the user's credentials and
spoken with pyctl's exec client (pyctl/remotecommand.py), so RBAC on pods/exec decides. When
the API server refuses to upgrade, the same request as a plain GET shows its Status (403
Forbidden, 404, 400), as `pyctl exec` does.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import aiohttp

from .. import remotecommand
from .actions import NAME
from .upstream import Upstream, status

CONTAINER = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A container name: a DNS label."""
MAX_ARGS = 64
MAX_ARG = 4096
MAX_PENDING_INPUT = 256  # stdin messages queued while the command does not read them yet


class BadExec(ValueError):
    """The page asked for an exec this module does not accept."""


@dataclass(frozen=True)
class ExecRequest:
    namespace: str
    pod: str
    container: str
    command: tuple[str, ...]

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> "ExecRequest":
        names = {}
        for key, pattern in (("namespace", NAME), ("pod", NAME), ("container", CONTAINER)):
            value = msg.get(key)
            if not isinstance(value, str) or not pattern.match(value):
                raise BadExec(f"{key}: {value!r} is not a valid name")
            names[key] = value
        command = msg.get("command")
        if (not isinstance(command, list) or not 0 < len(command) <= MAX_ARGS
                or not all(isinstance(a, str) and 0 < len(a) <= MAX_ARG and "\0" not in a for a in command)):
            raise BadExec(f"command: a list of 1 to {MAX_ARGS} non-empty strings, not {command!r}")
        return cls(names["namespace"], names["pod"], names["container"], tuple(command))

    def path(self) -> str:
        """The pods/exec request, as `pyctl exec -i` makes it without a terminal."""
        query = [("command", c) for c in self.command] + [
            ("container", self.container), ("stdin", "true"), ("stdout", "true"), ("stderr", "true"),
            ("tty", "false")]
        pod = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/exec"
        return f"{pod}?{urllib.parse.urlencode(query)}"


Send = Callable[[dict[str, Any]], Awaitable[None]]


class ExecSession:
    """One command's streams between the page (`send`, `write`, `end_input`) and the API."""

    def __init__(self, upstream: Upstream, request: ExecRequest, send: Send, sid: int) -> None:
        self.upstream = upstream
        self.request = request
        self.send = send
        self.sid = sid
        self._input: asyncio.Queue[bytes | None] = asyncio.Queue()

    def write(self, data: str) -> bool:
        """Queue stdin; False when too much waits already (the command does not read it)."""
        if self._input.qsize() >= MAX_PENDING_INPUT:
            return False
        self._input.put_nowait(data.encode(errors="replace"))  # a lone surrogate is not UTF-8
        return True

    def end_input(self) -> None:
        self._input.put_nowait(None)

    async def run(self) -> dict[str, Any]:
        """Run the command to its end; the `end` message for the page."""
        path = self.request.path()
        try:
            ws = await self.upstream.websocket(path)
        except remotecommand.HandshakeFailed:
            return await self._refusal(path)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            return self._end(502, status(502, "ServiceUnavailable",
                                         f"the dashboard cannot reach the API server: {exc or type(exc).__name__}"))
        async with ws:
            feeder = asyncio.create_task(self._feed(ws))
            try:
                final = await self._relay(ws)
            except (aiohttp.ClientError, OSError, ValueError):  # broken, or a Status that is not JSON
                final = remotecommand.cut_short()
            finally:
                feeder.cancel()
        return self._end(200, final, remotecommand.exit_code(final))

    async def _relay(self, ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        decoders = {ch: codecs.getincrementaldecoder("utf-8")(errors="replace")
                    for ch in (remotecommand.STDOUT, remotecommand.STDERR)}
        names = {remotecommand.STDOUT: "stdout", remotecommand.STDERR: "stderr"}
        async for channel, data in remotecommand.frames(ws):
            if channel in decoders:
                text = decoders[channel].decode(data)
                if text:
                    await self.send({"id": self.sid, "text": text, "stream": names[channel]})
            elif channel == remotecommand.ERROR:
                final: dict[str, Any] = json.loads(data)
                return final
        return remotecommand.cut_short()

    async def _feed(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # A connection that breaks here ends the relay too, which says so.
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            while (data := await self._input.get()) is not None:
                await ws.send_bytes(remotecommand.stdin_message(data))
            if ws.protocol == remotecommand.V5:  # v4 cannot say "stdin ended"
                await ws.send_bytes(remotecommand.close_stdin_message())

    async def _refusal(self, path: str) -> dict[str, Any]:
        """Not upgraded: the same request as a plain GET answers with the API's Status."""
        try:
            resp = await self.upstream.get(path, "application/json", timeout=30)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            return self._end(502, status(502, "ServiceUnavailable",
                                         f"the dashboard cannot reach the API server: {exc}"))
        try:
            raw = await resp.read()
            code = resp.status
        finally:
            resp.release()
        try:
            body = json.loads(raw)
        except ValueError:
            body = status(code, "", raw.decode(errors="replace")[:500])
        return self._end(code, body)

    def _end(self, code: int, final: dict[str, Any], exit_code: int | None = None) -> dict[str, Any]:
        return {"id": self.sid, "end": True, "code": code, "status": final, "exitCode": exit_code}
