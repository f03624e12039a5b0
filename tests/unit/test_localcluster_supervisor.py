"""The local cluster's supervisor without root: it keeps real processes (`sleep`, `sh`) running
for a cluster record in a temporary state dir, as it keeps etcd, the control plane, the
registry and the agents running in a real cluster (tests/e2e/test_cluster.py). Only time is
fake: each `tick(now)` is told the time, so back-off is checked without waiting it out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from pyctl.localcluster import components, procs, state, supervision
from pyctl.localcluster.components import Component
from pyctl.localcluster.state import Cluster
from pyctl.localcluster.supervisor import Policy, Supervisor

POLICY = Policy(first_delay=1.0, max_delay=4.0, reset_after=60.0)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    monkeypatch.setattr(state, "ROOT", tmp_path)
    monkeypatch.setattr(state, "host_networks", lambda: [])
    c = state.allocate("dev", 1, [])
    c.save()
    yield c
    for name in ("a", "b", "crash", supervision.NAME):  # whatever a test left running
        pid = procs.read_pid(c.dir / "run" / f"{name}.pid")
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def fake(argv: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A cluster whose processes are these commands."""
    return lambda c, join: [Component(name, "-", cmd, lambda: True) for name, cmd in argv.items()]


SLEEPERS = fake({"a": ["sleep", "60"], "b": ["sleep", "60"]})


def kill(pid: int | None) -> None:
    assert pid is not None and pid > 0  # never os.kill(0, ...): that is our own process group
    os.kill(pid, signal.SIGKILL)


def exited(sup: Supervisor, name: str, now: float) -> bool:
    """Tick until the supervisor has seen `name` exit (a killed process takes a moment)."""
    return procs.wait_for(lambda: (sup.tick(now), sup.records[name].state == "restarting")[1],
                          lambda: True, 10, interval=0.02)


def test_only_what_up_asked_for_runs(cluster: Cluster) -> None:
    sup = Supervisor(cluster.dir, POLICY, SLEEPERS)
    assert sup.tick(1000.0)
    assert components.pid_of(cluster, "a") is None and components.pid_of(cluster, "b") is None
    supervision.want(cluster, ["a"])
    sup.tick(1000.0)
    assert components.pid_of(cluster, "a") == sup.records["a"].pid is not None
    assert components.pid_of(cluster, "b") is None
    report = supervision.read_report(cluster.dir)
    assert report.pid == os.getpid() and report.components["a"].state == "running"
    assert report.components["a"].restarts == 0


def test_a_killed_process_is_started_again_after_a_growing_back_off(cluster: Cluster) -> None:
    supervision.want(cluster, ["a", "b"])
    sup = Supervisor(cluster.dir, POLICY, SLEEPERS)
    t = 1000.0
    sup.tick(t)
    first, other = sup.records["a"].pid, sup.records["b"].pid
    assert first is not None
    kill(first)
    assert exited(sup, "a", t + 5)
    rec = supervision.read_report(cluster.dir).components["a"]
    assert (rec.state, rec.exit_reason, rec.exit_at, rec.next_start) == ("restarting", "killed by SIGKILL",
                                                                         t + 5, t + 6)
    assert components.pid_of(cluster, "a") is None
    sup.tick(t + 5.9)  # the back-off is not over
    assert components.pid_of(cluster, "a") is None
    sup.tick(t + 6)
    second = components.pid_of(cluster, "a")
    assert second is not None and second != first
    assert sup.records["a"].restarts == 1 and sup.records["b"].pid == other  # b never noticed
    # It dies again at once: the wait doubles, up to the ceiling.
    delays = []
    for i in range(4):
        now = t + 10 * (i + 1)
        kill(sup.records["a"].pid)
        assert exited(sup, "a", now)
        delays.append((sup.records["a"].next_start or 0) - now)
        sup.tick(now + delays[-1])
    assert delays == [2.0, 4.0, 4.0, 4.0]
    assert sup.records["a"].restarts == 5
    # A run of reset_after seconds was healthy: the next exit waits first_delay again.
    sup.tick(t + 50 + 4 + 60)
    kill(sup.records["a"].pid)
    assert exited(sup, "a", t + 200)
    assert sup.records["a"].next_start == t + 201


def test_the_exit_code_of_a_crashing_process_is_reported(cluster: Cluster) -> None:
    supervision.want(cluster, ["crash"])
    sup = Supervisor(cluster.dir, POLICY, fake({"crash": ["sh", "-c", "echo broken >&2; exit 3"]}))
    sup.tick(1000.0)
    assert exited(sup, "crash", 1000.5)
    assert supervision.read_report(cluster.dir).components["crash"].exit_reason == "exit code 3"
    # Its output goes where `up` always put it.
    assert "broken" in components.log_file(cluster, "crash").read_text()


def test_a_new_supervisor_adopts_what_runs_and_carries_the_counts_on(cluster: Cluster) -> None:
    supervision.want(cluster, ["a", "b"])
    old = Supervisor(cluster.dir, POLICY, SLEEPERS)
    old.tick(1000.0)
    kill(old.records["a"].pid)
    assert exited(old, "a", 1001.0)
    old.tick(1002.0)
    running = {n: components.pid_of(cluster, n) for n in ("a", "b")}
    # The old one is gone (its processes were not its to stop); a new one looks.
    new = Supervisor(cluster.dir, POLICY, SLEEPERS)
    new.tick(1003.0)
    assert {n: components.pid_of(cluster, n) for n in ("a", "b")} == running  # no twins
    assert new.records["a"].restarts == 1
    # What an earlier supervisor started is not its child: it sees the exit, not the status.
    kill(running["b"])
    assert exited(new, "b", 1004.0)
    assert new.records["b"].exit_reason == "exited (status unknown)"
    new.tick(1005.0)
    assert components.pid_of(cluster, "b") not in (None, running["b"]) and new.records["b"].restarts == 1


def test_a_process_that_cannot_start_is_retried_with_back_off(cluster: Cluster) -> None:
    supervision.want(cluster, ["a"])
    sup = Supervisor(cluster.dir, POLICY, fake({"a": ["/nonexistent/etcd"]}))
    sup.tick(1000.0)
    rec = sup.records["a"]
    assert rec.state == "restarting" and rec.exit_reason is not None
    assert rec.exit_reason.startswith("could not start") and rec.next_start == 1001.0


def _daemon(c: Cluster) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pyctl.localcluster.supervisor", "--cluster-dir", str(c.dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=components.child_env())


def test_one_supervisor_per_cluster_and_sigterm_stops_only_it(cluster: Cluster) -> None:
    # A wanted process that is running already (as after an earlier supervisor): adopted, kept.
    supervision.want(cluster, ["a"])
    keep = procs.start(["sleep", "60"], cluster.dir / "run" / "a.pid", cluster.dir / "logs" / "a.log")
    first = _daemon(cluster)
    assert procs.wait_for(lambda: supervision.supervisor_pid(cluster.dir) == first.pid,
                          lambda: first.poll() is None, 30)
    assert procs.wait_for(lambda: "a" in supervision.read_report(cluster.dir).components, lambda: True, 30)
    second = _daemon(cluster)  # a second `up` at the same moment: it leaves the cluster to the first
    assert second.wait(30) == 0
    assert supervision.supervisor_pid(cluster.dir) == first.pid
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    assert procs.read_pid(cluster.dir / "run" / "a.pid") == keep  # not stopped, not restarted
    time.sleep(0.3)
    assert procs.read_pid(cluster.dir / "run" / "a.pid") == keep


def test_the_supervisor_stops_when_its_cluster_is_deleted(cluster: Cluster) -> None:
    proc = _daemon(cluster)
    assert procs.wait_for(lambda: supervision.supervisor_pid(cluster.dir) is not None,
                          lambda: proc.poll() is None, 30)
    (cluster.dir / "cluster.json").unlink()
    assert proc.wait(30) == 0
