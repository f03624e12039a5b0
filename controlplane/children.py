"""What `pyctl-controlplane`'s child processes share: tied to the parent, watched, restarted.

The components process (componentsproc.py) and the extra API workers (apiworkers.py) are
both started with subprocess.Popen from the parent's main thread, handed their configuration
on stdin, and supervised the same way:

* Tied to the parent: the child asks the kernel for SIGKILL when its parent dies
  (PR_SET_PDEATHSIG) and then checks it still has that parent, closing the race where the
  parent died first. The death signal follows the thread that spawned the child, so the parent
  spawns from its main thread (where the event loop runs), never from a worker thread.
* Restarted with exponential back-off: FIRST_BACKOFF doubling to MAX_BACKOFF, back to the first
  after STABLE_AFTER seconds up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import argparse
import pickle
import signal
import subprocess
import sys
import threading
import time
from typing import Any

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
FIRST_BACKOFF, MAX_BACKOFF, STABLE_AFTER = 1.0, 30.0, 60.0
READY = b"ready\n"
STOP_TIMEOUT = 30.0

log = logging.getLogger(__name__)


def check_main_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(f"spawn the {what} from the main thread: "
                           "PR_SET_PDEATHSIG fires when the spawning thread ends")


async def readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def ready() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await done
    finally:
        loop.remove_reader(fd)


def describe(status: int) -> str:
    return f"signal {signal.Signals(-status).name}" if status < 0 else f"status {status}"


def next_backoff(backoff: float, up: float) -> float:
    """The wait before restarting a child that ran `up` seconds, after waiting `backoff` last time."""
    return FIRST_BACKOFF if up >= STABLE_AFTER else backoff


def die_with_parent(parent: int, name: bytes) -> None:
    """In the child: SIGKILL when `parent` dies; `name` is what ps -o comm / top show."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # it died before the line above: no signal will ever come
        os._exit(1)
    libc.prctl(PR_SET_NAME, name[:15], 0, 0, 0)


class ChildRun:
    """One run of a child, on the parent's side: its process, a pidfd that turns readable when it
    exits, and the read end of its ready pipe. A subclass spawns the process, then `_started()`
    hands it its configuration."""

    what = "child process"  # for log lines
    proc: "subprocess.Popen[bytes]"
    ready_fd = pidfd = -1
    started = 0.0

    def _started(self, ready_fd: int, spec: Any) -> None:
        self.ready_fd, self.started = ready_fd, time.monotonic()
        self.pidfd = os.pidfd_open(self.proc.pid)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(pickle.dumps(spec))
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; wait_ready() reports its exit status

    async def wait_ready(self) -> bool:
        """True once the child says it is ready; False if it exits first."""
        await readable(self.ready_fd)
        return os.read(self.ready_fd, len(READY)) == READY

    async def wait_exit(self) -> int:
        await readable(self.pidfd)
        return self.proc.wait()

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait_exit(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                log.warning("%s %d did not stop within %.0fs; killing it", self.what, self.proc.pid, STOP_TIMEOUT)
                self.proc.kill()
                self.proc.wait()
        self.close()

    def close(self) -> None:
        for fd in (self.ready_fd, self.pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.ready_fd = self.pidfd = -1


def child_spec(argv: list[str] | None, prog: str, description: str, name: bytes) -> Any:
    """In the child, first thing: tie it to the parent named by --parent-pid, leave Ctrl-C to
    the parent (it reaches the whole process group; the parent stops this one with SIGTERM),
    and read the configuration the parent pickled onto stdin."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--parent-pid", type=int, required=True)
    args = p.parse_args(argv)
    die_with_parent(args.parent_pid, name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return pickle.load(sys.stdin.buffer)
