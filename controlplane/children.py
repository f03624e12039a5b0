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
import ctypes
import os
import signal
import threading

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
FIRST_BACKOFF, MAX_BACKOFF, STABLE_AFTER = 1.0, 30.0, 60.0
READY = b"ready\n"


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
