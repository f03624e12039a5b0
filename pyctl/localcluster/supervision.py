"""What `up`, `down`, `status` and a cluster's supervisor (supervisor.py) share: four files
under the cluster's `run/`, and starting and stopping the supervisor.

    run/supervisor.pid   the supervisor; it writes this itself once it holds run/supervisor.lock,
                         so of two supervisors started at once the one that runs is recorded
    run/wanted.json      the components `up` asked to keep running, in the order it asked
    run/join.json        flags an agent without a node certificate starts with (a bootstrap
                         token, so 0600); there only while `up` waits for the nodes to join
    run/supervisor.json  the supervisor's report: per component its pid, state, restart count
                         and last exit; a new supervisor carries the counts on

`up` writes the first three, the supervisor the last; each is replaced whole, never edited.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CommandError
from . import components, procs
from .state import Cluster

NAME = "supervisor"
"""The supervisor's name among the cluster's processes: run/supervisor.pid, logs/supervisor.log."""


def run_dir(cluster_dir: Path) -> Path:
    return cluster_dir / "run"


def pidfile(cluster_dir: Path) -> Path:
    return run_dir(cluster_dir) / f"{NAME}.pid"


def lockfile(cluster_dir: Path) -> Path:
    return run_dir(cluster_dir) / f"{NAME}.lock"


def report_file(cluster_dir: Path) -> Path:
    return run_dir(cluster_dir) / f"{NAME}.json"


def _wanted_file(cluster_dir: Path) -> Path:
    return run_dir(cluster_dir) / "wanted.json"


def _join_file(cluster_dir: Path) -> Path:
    return run_dir(cluster_dir) / "join.json"


def _write(path: Path, doc: Any, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    tmp.replace(path)


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


# -- what up asks for ---------------------------------------------------------------------------

def wanted(cluster_dir: Path) -> list[str]:
    names = _read(_wanted_file(cluster_dir), [])
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def want(c: Cluster, names: list[str]) -> None:
    """Ask the supervisor to keep `names` running from now on (the others stay as they are)."""
    have = wanted(c.dir)
    if any(n not in have for n in names):
        _write(_wanted_file(c.dir), have + [n for n in names if n not in have])


def join_flags(cluster_dir: Path) -> list[str]:
    flags = _read(_join_file(cluster_dir), [])
    return [f for f in flags if isinstance(f, str)] if isinstance(flags, list) else []


def set_join_flags(c: Cluster, flags: list[str]) -> None:
    _write(_join_file(c.dir), flags, mode=0o600)


def clear_join_flags(c: Cluster) -> None:
    _join_file(c.dir).unlink(missing_ok=True)


# -- what the supervisor reports ----------------------------------------------------------------

@dataclass
class Record:
    """One component as the supervisor keeps it. Times are Unix seconds."""
    pid: int | None = None
    state: str = "waiting"
    """running (it has a live process), restarting (it exited; the next start waits out the
    back-off until `next_start`) or waiting (not started yet)."""
    restarts: int = 0
    """Starts after the first, as a pod's restartCount."""
    failures: int = 0
    """Exits in a row, each after a short run: the back-off's exponent."""
    started: float | None = None
    next_start: float | None = None
    exit_reason: str | None = None
    exit_at: float | None = None


@dataclass
class Report:
    pid: int | None = None
    started: float | None = None
    policy: dict[str, float] = field(default_factory=dict)
    components: dict[str, Record] = field(default_factory=dict)


def read_report(cluster_dir: Path) -> Report:
    doc = _read(report_file(cluster_dir), {})
    if not isinstance(doc, dict):
        return Report()
    fields = set(Record.__dataclass_fields__)
    comps = {name: Record(**{k: v for k, v in rec.items() if k in fields})
             for name, rec in (doc.get("components") or {}).items() if isinstance(rec, dict)}
    return Report(pid=doc.get("pid"), started=doc.get("started"), policy=doc.get("policy") or {},
                  components=comps)


def write_report(cluster_dir: Path, report: Report) -> None:
    _write(report_file(cluster_dir), asdict(report))


# -- the supervisor process ---------------------------------------------------------------------

def supervisor_pid(cluster_dir: Path) -> int | None:
    return procs.read_pid(pidfile(cluster_dir))


def ensure_supervisor(c: Cluster, timeout: float = 30) -> int | None:
    """Start the cluster's supervisor unless one runs; the new one's pid, or None if one ran.

    It runs in its own session with `/` as its working directory, so it outlives `up` and
    pins no directory; it adopts whatever of the cluster still runs (pidfiles) and starts
    only what is missing."""
    if supervisor_pid(c.dir) is not None:
        return None
    argv = [sys.executable, "-m", "pyctl.localcluster.supervisor", "--cluster-dir", str(c.dir)]
    proc = procs.spawn(argv, components.log_file(c, NAME), env=components.child_env(), cwd="/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = supervisor_pid(c.dir)
        if pid is not None:
            return pid
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log = components.log_file(c, NAME)
    raise CommandError(f"the cluster's supervisor did not start; the end of {log}:\n{tail(log)}")


def stop_supervisor(c: Cluster) -> None:
    """Before anything else of the cluster stops, so that nothing is restarted behind `down`."""
    procs.stop(pidfile(c.dir))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
