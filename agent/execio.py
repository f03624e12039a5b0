"""One exec'd command's host process, for the Exec RPC: spawned with pipes, or on a
pseudo-terminal for a TTY; its output, stdin, terminal size, exit code and cleanup.

The host command is the runtime's (`runc exec`), which copies between its own stdio and
the command's and exits with the command's exit code. With a TTY, runc takes our pty as
its "host console": it makes it raw, and on SIGWINCH gives the container's terminal our
pty's size, so a resize is "set our size, then SIGWINCH runc".

A command that never started (not found in the container, say) leaves no pid file: what
runc printed is then its error, raised as ExecStartError instead of being sent as stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import struct
import termios
import time
from typing import AsyncIterator

from .runtime.base import ExecCommand

START_TIMEOUT = 30.0
"""Seconds the host command may take to start the command (runc exec takes ~50 ms)."""
START_POLL = 0.01
KILL_WAIT = 5.0
"""Seconds runc gets to exit after its command was killed, before it is killed too."""
CHUNK = 32 * 1024
DEFAULT_SIZE = (80, 24)  # width, height: a terminal nobody has sized yet


class ExecStartError(Exception):
    """The command could not be started in the container; the message is the runtime's."""


def runc_message(output: bytes) -> str:
    """The readable part of runc's error output (`time=... level=error msg="..."` or plain text)."""
    text = output.decode(errors="replace").strip()
    found = re.findall(r'level=error msg="((?:[^"\\]|\\.)*)"', text)
    if found:
        text = found[-1].encode().decode("unicode_escape", errors="replace")
    return text.splitlines()[-1].strip() if text else "the command exited before it started"


def set_size(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class ExecProcess:
    """Start with `await ExecProcess.start(...)`; read `output()` to its end, then `wait()`;
    `kill()` in a finally (a no-op once the command has ended)."""

    def __init__(self, cmd: ExecCommand, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.cmd, self.proc, self.master = cmd, proc, master
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._open = 0  # output streams not yet at EOF
        self._readers: list[asyncio.Task[None]] = []

    @classmethod
    async def start(cls, cmd: ExecCommand, *, tty: bool, stdin: bool,
                    size: tuple[int, int] = DEFAULT_SIZE) -> "ExecProcess":
        if tty:
            master, slave = os.openpty()
            set_size(slave, *size)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd.argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)  # runc holds it now; its close is how we see the end (EIO)
        else:
            master = None
            proc = await asyncio.create_subprocess_exec(
                *cmd.argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self = cls(cmd, proc, master)
        try:
            await self._wait_started()
        except BaseException:
            await self.kill()
            raise
        self._start_readers()
        return self

    async def _wait_started(self) -> None:
        if not await self._settle():
            if self.proc.returncode is None:
                raise ExecStartError(f"the command did not start within {START_TIMEOUT:.0f}s")
            raise ExecStartError(runc_message(await self._all_output()))

    async def _settle(self) -> bool:
        """Wait until the pid file appears (True: the command runs, or ran) or runc has exited
        without one or the start timeout has passed (False)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.cmd.pid_file.exists():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                return self.cmd.pid_file.exists()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.proc.wait()), START_POLL)
        return True

    async def _all_output(self) -> bytes:
        if self.master is None:
            assert self.proc.stdout is not None and self.proc.stderr is not None
            return await self.proc.stderr.read() + await self.proc.stdout.read()
        out = b""
        with contextlib.suppress(OSError):  # EIO: nothing more
            os.set_blocking(self.master, False)
            while chunk := os.read(self.master, CHUNK):
                out += chunk
        return out

    def _start_readers(self) -> None:
        if self.master is None:
            assert self.proc.stdout is not None and self.proc.stderr is not None
            self._open = 2
            self._readers = [asyncio.create_task(self._pump("stdout", self.proc.stdout)),
                             asyncio.create_task(self._pump("stderr", self.proc.stderr))]
            return
        self._open = 1
        os.set_blocking(self.master, False)
        asyncio.get_running_loop().add_reader(self.master, self._read_master)

    async def _pump(self, stream: str, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(CHUNK):
            await self._queue.put((stream, chunk))
        await self._queue.put(None)

    def _read_master(self) -> None:
        assert self.master is not None
        try:
            chunk = os.read(self.master, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO once every holder of the slave side has closed it
            chunk = b""
        if chunk:
            self._queue.put_nowait(("stdout", chunk))  # a terminal merges stderr into stdout
            return
        asyncio.get_running_loop().remove_reader(self.master)
        self._queue.put_nowait(None)

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout" | "stderr", bytes) as the command writes them, until it closes both."""
        while self._open:
            item = await self._queue.get()
            if item is None:
                self._open -= 1
            else:
                yield item

    async def write(self, data: bytes) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):  # closed by kill() meanwhile
                await asyncio.to_thread(_write_all, self.master, data)
        elif self.proc.stdin is not None:
            with contextlib.suppress(ConnectionError):  # the command stopped reading
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            await self.write(b"\x04")  # a terminal's end of input: ^D
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.master is None or width <= 0 or height <= 0:
            return
        set_size(self.master, width, height)
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGWINCH)

    async def wait(self) -> int:
        return await self.proc.wait()

    async def kill(self) -> None:
        """Stop the command (its container process, then runc) and release what this holds."""
        if self.proc.returncode is None:
            # Killing runc while it starts the command would orphan the command in the
            # container: wait for its pid first, then kill it, and runc exits on its own.
            if await self._settle():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(self.cmd.pid_file.read_text().strip()), signal.SIGKILL)
            try:
                await asyncio.wait_for(asyncio.shield(self.proc.wait()), KILL_WAIT)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        for task in self._readers:
            task.cancel()
        if self.master is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None
        with contextlib.suppress(OSError):
            self.cmd.pid_file.unlink()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.01)  # the terminal's input queue is full: the command reads slowly
            continue
        view = view[n:]
