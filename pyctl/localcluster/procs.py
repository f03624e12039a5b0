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


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None,
          pidfile: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` detached (new session, stdin from /dev/null, output appended to `log`).
    Keep the Popen to learn how the process ended: its parent alone can.

    The child writes `pidfile` itself, between fork and exec: whenever the caller is killed,
    a process that runs is a process on record, never a stray that a later start would twin."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if pidfile is not None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
    record = None if pidfile is None else (lambda: write_pidfile(pidfile, os.getpid()))
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True, env=env, cwd=cwd,
                                preexec_fn=record)


def write_pidfile(pidfile: Path, pid: int) -> None:
    tmp = pidfile.with_name(f"{pidfile.name}.{pid}.tmp")
    tmp.write_text(f"{pid} {_start_time(pid)}\n")
    tmp.replace(pidfile)  # a reader never sees half a pidfile


def start(argv: list[str], pidfile: Path, log: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` detached and record it in `pidfile`."""
    return spawn(argv, log, env, pidfile=pidfile).pid


def stop(pidfile: Path, timeout: float = 10.0) -> None:
    """SIGTERM, up to `timeout` seconds to exit, then SIGKILL; the pidfile goes either way."""
    pid = read_pid(pidfile)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:  # it ended between the read and the kill
            pass
        deadline = time.monotonic() + timeout
        while read_pid(pidfile) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if read_pid(pidfile) is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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
