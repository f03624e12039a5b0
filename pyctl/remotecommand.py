"""The client side of Kubernetes' WebSocket remote-command protocol (`pods/exec`).

Owns the connection (subprotocols v5.channel.k8s.io, then v4), the channel framing (one
leading byte per binary message: 0 stdin, 1 stdout, 2 stderr, 3 the final metav1.Status,
4 resize, 255 close on v5), copying local stdin/stdout/stderr, the raw terminal and its
size for a TTY, and turning the final Status into an exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator, BinaryIO

import aiohttp

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CHUNK = 32 * 1024


class HandshakeFailed(Exception):
    """The server did not upgrade the connection (it answered `status` instead)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"unable to upgrade connection: {status} {message}")
        self.status = status


@dataclass
class Streams:
    """Where the remote command's streams come from and go to."""

    stdin: BinaryIO | None
    """None: no stdin (no -i)."""
    stdout: BinaryIO
    stderr: BinaryIO
    tty: bool = False


def exit_code(status: dict[str, Any]) -> int | None:
    """The command's exit code from the final Status; None when the Status is an error."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(ValueError, TypeError):
                    return int(cause.get("message"))
    return None


def resize_message(width: int, height: int) -> bytes:
    return bytes([RESIZE]) + json.dumps({"Width": width, "Height": height}).encode()


def stdin_message(data: bytes) -> bytes:
    return bytes([STDIN]) + data


def close_stdin_message() -> bytes:
    """v5's "stdin ended" (v4 cannot say it: only closing the connection ends stdin there)."""
    return bytes([CLOSE, STDIN])


async def connect(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                  ssl: Any = None) -> aiohttp.ClientWebSocketResponse:
    """Open the exec WebSocket (v5, else v4); HandshakeFailed when the server does not upgrade."""
    try:
        return await http.ws_connect(url, protocols=(V5, V4), headers=headers, ssl=ssl,
                                     autoping=True, max_msg_size=0)
    except aiohttp.WSServerHandshakeError as exc:
        raise HandshakeFailed(exc.status, exc.message) from None


async def run(url: str, headers: dict[str, str], ssl: Any, streams: Streams) -> dict[str, Any]:
    """Connect, copy the streams until the server sends the final Status, and return it."""
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, url, headers, ssl)
        async with ws:
            with _terminal(streams, ws):
                feeder = _feed_stdin(ws, streams.stdin, ws.protocol == V5) if streams.stdin else None
                try:
                    return await _receive(ws, streams)
                finally:
                    if feeder is not None:
                        feeder.cancel()


async def frames(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[tuple[int, bytes]]:
    """(channel, payload) of each message the server sends, until the connection ends."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY and msg.data:
            yield msg.data[0], msg.data[1:]


def cut_short() -> dict[str, Any]:
    """The Status of a connection that ended without the command's own."""
    return {"status": "Failure", "reason": "InternalError",
            "message": "the connection to the server ended before the command's exit status arrived"}


async def _receive(ws: aiohttp.ClientWebSocketResponse, streams: Streams) -> dict[str, Any]:
    async for channel, data in frames(ws):
        if channel in (STDOUT, STDERR):
            out = streams.stdout if channel == STDOUT else streams.stderr
            out.write(data)
            out.flush()
        elif channel == ERROR:
            status: dict[str, Any] = json.loads(data)
            return status
    return cut_short()


def _feed_stdin(ws: aiohttp.ClientWebSocketResponse, stdin: BinaryIO, can_close: bool) -> asyncio.Task[None]:
    """Copy local stdin to channel 0 from a daemon thread (a blocked read must not keep the
    process alive after the command ends); at its end send CLOSE (v5; v4 cannot say it)."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def reader() -> None:
        fd = stdin.fileno()
        while True:
            try:
                data = os.read(fd, CHUNK)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(chunks.put_nowait, data)
            if not data:
                return

    async def sender() -> None:
        while data := await chunks.get():
            await ws.send_bytes(stdin_message(data))
        if can_close:
            await ws.send_bytes(close_stdin_message())

    threading.Thread(target=reader, name="pyctl-exec-stdin", daemon=True).start()
    return asyncio.create_task(sender())


@contextlib.contextmanager
def _terminal(streams: Streams, ws: aiohttp.ClientWebSocketResponse):  # type: ignore[no-untyped-def]
    """With a TTY on a real terminal: raw mode, the initial size and every SIGWINCH as a resize;
    the terminal is restored however the command ends."""
    if not streams.tty or streams.stdin is None or not os.isatty(streams.stdin.fileno()):
        yield
        return
    import termios
    import tty

    fd = streams.stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()
    sends: set[asyncio.Task[None]] = set()

    def send_size() -> None:
        cols, rows = os.get_terminal_size(fd)
        task = loop.create_task(ws.send_bytes(resize_message(cols, rows)))
        sends.add(task)
        task.add_done_callback(sends.discard)

    tty.setraw(fd)
    try:
        send_size()
        loop.add_signal_handler(signal.SIGWINCH, send_size)
        yield
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGWINCH)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def local_streams(stdin: bool, tty: bool) -> Streams:
    """The process's own stdin/stdout/stderr, binary."""
    return Streams(sys.stdin.buffer if stdin else None, sys.stdout.buffer, sys.stderr.buffer, tty)
