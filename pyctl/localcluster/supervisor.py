"""A local cluster's supervisor: one small daemon per cluster that keeps its processes (etcd,
the control plane, the registry, an agent per node) running, as systemd's `Restart=always`
keeps the same processes running on servers (deploy/systemd/).

    python -m pyctl.localcluster.supervisor --cluster-dir /var/lib/pyctl/clusters/NAME

`up` starts it and names the components to keep running (supervision.py); every tick it
starts what is wanted and not running, and when a process exits records why (its exit code
or signal: the processes it starts are its children) and starts it again after a back-off
that doubles with each quick exit in a row, as a pod's CrashLoopBackOff does. It never gives
up (the deploy units set `StartLimitIntervalSec=0` for the same reason: a control plane that
exits while etcd is down must come back once etcd does); the back-off's ceiling is the rate
limit.

A process it starts runs in a session of its own: killing the supervisor (even SIGKILL)
kills nothing else, and SIGTERM only stops the supervisor. The next supervisor adopts the
processes that still run, by their pidfiles, instead of starting twins; `down` stops the
supervisor first, then the rest.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import components, procs, state, supervision
from .components import Component
from .state import Cluster
from .supervision import Record

log = logging.getLogger("pyctl.supervisor")

TICK = 0.25
"""Seconds between looks: how soon an exit is noticed."""


@dataclass(frozen=True)
class Policy:
    """When to start a process again: after `first_delay`, doubled for each exit in a row up to
    `max_delay`; a process that ran `reset_after` seconds was healthy and the next wait is
    `first_delay` again."""
    first_delay: float = 1.0
    max_delay: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(failures - 1, 0))


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


Build = Callable[[Cluster, list[str]], list[Component]]


class Supervisor:
    """The bookkeeping of one cluster's processes; `tick()` is one look at all of them."""

    def __init__(self, cluster_dir: Path, policy: Policy = Policy(),
                 build: Build = components.components) -> None:
        self.dir = cluster_dir
        self.policy = policy
        self.build = build
        self.report = supervision.read_report(cluster_dir)  # restart counts carry on
        self.report.pid, self.report.started = os.getpid(), time.time()
        self.report.policy = asdict(policy)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._changed = True

    @property
    def records(self) -> dict[str, Record]:
        return self.report.components

    def tick(self, now: float | None = None) -> bool:
        """Look at every wanted component once; False once the cluster's record is gone."""
        now = time.time() if now is None else now
        if not (self.dir / "cluster.json").exists():
            return False
        built: dict[str, Component] | None = None
        for name in supervision.wanted(self.dir):
            rec = self.records.setdefault(name, Record())
            if self._running(name, rec, now):
                continue
            if rec.next_start is not None and now < rec.next_start:
                continue
            if built is None:  # only when something starts: building reads the CA and more
                built = self._build()
            if name in built:
                self._start(built[name], rec, now)
        if self._changed:
            supervision.write_report(self.dir, self.report)
            self._changed = False
        return True

    def _build(self) -> dict[str, Component]:
        c = state.load(self.dir.name)
        if c is None:
            return {}
        return {comp.name: comp for comp in self.build(c, supervision.join_flags(self.dir))}

    def _pidfile(self, name: str) -> Path:
        return self.dir / "run" / f"{name}.pid"

    def _running(self, name: str, rec: Record, now: float) -> bool:
        """Whether `name` runs; notes an exit, or adopts a process an earlier supervisor started."""
        if rec.pid is not None:
            reason = self._exited(name, rec.pid)
            if reason is None:
                if rec.failures and now - (rec.started or now) >= self.policy.reset_after:
                    rec.failures = 0
                    self._changed = True
                return True
            self._note_exit(name, rec, reason, now)
        pid = procs.read_pid(self._pidfile(name))
        if pid is None:
            return False
        log.info("%s: adopting pid %d", name, pid)
        rec.pid, rec.state, rec.next_start = pid, "running", None
        rec.started = rec.started or now
        self._changed = True
        return True

    def _exited(self, name: str, pid: int) -> str | None:
        child = self.children.get(name)
        if child is not None and child.pid == pid:
            code = child.poll()
            if code is None:
                return None
            del self.children[name]
            return exit_reason(code)
        if procs.read_pid(self._pidfile(name)) == pid:
            return None
        # Not our child (an earlier supervisor started it): its exit status went to init.
        return "exited (status unknown)"

    def _note_exit(self, name: str, rec: Record, reason: str, now: float) -> None:
        ran = now - (rec.started or now)
        rec.failures = 1 if ran >= self.policy.reset_after else rec.failures + 1
        delay = self.policy.delay(rec.failures)
        log.warning("%s (pid %s) %s after %.0fs; starting it again in %.0fs", name, rec.pid, reason, ran, delay)
        rec.pid, rec.state = None, "restarting"
        rec.exit_reason, rec.exit_at, rec.next_start = reason, now, now + delay
        self._changed = True

    def _start(self, comp: Component, rec: Record, now: float) -> None:
        again = rec.started is not None
        try:
            proc = procs.spawn(comp.argv, self.dir / "logs" / f"{comp.name}.log", env=components.child_env(),
                               pidfile=self._pidfile(comp.name))
        except (OSError, subprocess.SubprocessError) as e:
            rec.started = rec.started or now
            self._note_exit(comp.name, rec, f"could not start: {getattr(e, 'strerror', None) or e}", now)
            return
        self.children[comp.name] = proc
        rec.pid, rec.state, rec.started, rec.next_start = proc.pid, "running", now, None
        if again:
            rec.restarts += 1
        log.info("%s: %s pid %d%s", comp.name, "restarted as" if again else "started as", proc.pid,
                 f" (restart {rec.restarts})" if again else "")
        self._changed = True


def _hold_lock(cluster_dir: Path) -> int | None:
    """An exclusive lock for this supervisor's lifetime (the kernel drops it when it dies)."""
    path = supervision.lockfile(cluster_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyctl.localcluster.supervisor",
                                description="Keep a local pyctl cluster's processes running "
                                            "(started by `pyctl cluster up`, stopped by `down`).")
    p.add_argument("--cluster-dir", type=Path, required=True,
                   help="the cluster's state dir, e.g. /var/lib/pyctl/clusters/NAME")
    a = p.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s supervisor %(levelname)s %(message)s")
    cluster_dir = a.cluster_dir.resolve()
    state.ROOT = cluster_dir.parent
    lock = _hold_lock(cluster_dir)  # held (open) until this process ends
    if lock is None:
        log.info("another supervisor runs for %s; leaving it to that one", cluster_dir)
        return 0
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    procs.write_pidfile(supervision.pidfile(cluster_dir), os.getpid())
    sup = Supervisor(cluster_dir)
    log.info("supervising %s (pid %d; back-off %s)", cluster_dir, os.getpid(), sup.policy)
    while not stopping:
        if not sup.tick():
            log.info("the cluster's record is gone; stopping")
            break
        time.sleep(TICK)
    # The processes keep running: `down` stops them, or the next supervisor adopts them.
    log.info("stopped; %d processes left running", sum(1 for r in sup.records.values() if r.pid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
