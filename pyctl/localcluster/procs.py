"""Detached processes of a local cluster, each with a pidfile and a log under the state dir.

A pidfile holds the pid and the process's start time (field 22 of /proc/PID/stat), so a
pid the kernel has since given to someone else is never mistaken for ours, and never
signalled. Processes run in their own session (`setsid`) so they outlive `pyctl cluster up`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def read_pid(pidfile: Path) -> int | None:
    """The recorded pid if that very process is still alive (not a zombie, not a reused pid)."""
    try:
        pid_s, _, started = pidfile.read_text().partition(" ")
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None
    if state == "Z" or _start_time(pid) != started.strip():
        return None
    return pid


def start(argv: list[str], pidfile: Path, log: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` detached (new session, stdin from /dev/null, output to `log`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True, env=env)
    pidfile.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
    return proc.pid


def stop(pidfile: Path, timeout: float = 10.0) -> None:
    """SIGTERM, up to `timeout` seconds to exit, then SIGKILL; the pidfile goes either way."""
    pid = read_pid(pidfile)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while read_pid(pidfile) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if read_pid(pidfile) is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while read_pid(pidfile) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
    pidfile.unlink(missing_ok=True)


def wait_for(check: Callable[[], bool], alive: Callable[[], bool], timeout: float,
             interval: float = 0.1) -> bool:
    """Poll `check()` until true, `alive()` false, or `timeout` seconds; True on success."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(interval)
    return bool(check())
