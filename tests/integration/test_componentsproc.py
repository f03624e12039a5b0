"""`pyctl-controlplane` runs its scheduler, controllers and gateway in one child process tied to
it: the child dies with a SIGKILLed parent, a SIGTERM stops both (leases handed back), a
crashed child is restarted (its leases handed back for it), secrets never show in the child's argv or environment, and
`--components-process=inline` keeps everything in one process.

The control plane is the real binary against a real etcd; leases are read through a second
API server (the `client` fixture) on the same etcd, so they can be read after it is gone."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from controlplane.controllers.manager import LEASE_NAME

from ..cluster import Etcd, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"


class ControlPlane:
    def __init__(self, etcd: Etcd, tmp: Path, *extra: str) -> None:
        self.gateway = free_port()
        self.log = tmp / "controlplane.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controlplane", "--etcd-servers", etcd.url,
                 "--listen", f"127.0.0.1:{free_port()}", "--gateway-listen", f"127.0.0.1:{self.gateway}",
                 "--gateway-join-listen", f"127.0.0.1:{free_port()}", "--leader-elect-lease-duration", "3",
                 *extra], cwd=REPO, stdout=out, stderr=out)

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # Killed outright, it could not remove its API workers' sockets' directory (peers.py).
        for left in glob.glob(os.path.join(tempfile.gettempdir(), f"pyctl-api-{self.proc.pid}-*")):
            shutil.rmtree(left, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def gateway_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


async def lease_holder(client, name: str = LEASE_NAME) -> str:
    status, lease = await client.request("GET", LEASES + name)
    return (lease.get("spec") or {}).get("holderIdentity", "") if status == 200 else ""


async def released(client, name: str) -> bool:
    """The lease exists and nobody holds it (this API server's cache may lag a moment)."""
    status, lease = await client.request("GET", LEASES + name)
    return status == 200 and not (lease.get("spec") or {}).get("holderIdentity")


@pytest.fixture
def started(etcd, tmp_path):
    planes: list[ControlPlane] = []

    def start(*extra: str) -> ControlPlane:
        planes.append(ControlPlane(etcd, tmp_path, *extra))
        return planes[-1]
    yield start
    for p in planes:
        kids = p.children()
        p.stop()
        for kid in kids:  # the test failed half way: do not leave a child behind
            if alive(kid):
                os.kill(kid, signal.SIGKILL)


async def one_child(cp: ControlPlane) -> int:
    """The control plane's one child, once the parent has seen its components running."""
    async def child():
        assert cp.proc.poll() is None, cp.output()
        kids = cp.children()
        up = len(kids) == 1 and f"components process {kids[0]} running" in cp.output()
        return kids[0] if up else None
    return await wait_until(child, timeout=60, interval=0.1)


async def test_the_components_run_in_a_child_that_dies_with_a_sigkilled_parent(started, client):
    cp = started()
    child = await one_child(cp)
    await wait_until(lambda: Path(f"/proc/{child}/comm").read_text().strip() == "pyctl-comps", timeout=30)
    # The child leads, under the parent's pid (what `pyctl cluster status` and pidfiles show).
    holder = await wait_until(lambda: lease_holder(client), timeout=60)
    assert f"_{cp.proc.pid}_" in holder
    await wait_until(lambda: gateway_answers(cp.gateway), timeout=60)

    cp.proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(cp.proc.wait, 10)
    await wait_until(lambda: not alive(child), timeout=30, interval=0.1)


async def test_sigterm_stops_the_child_first_and_it_hands_its_leases_back(started, client):
    cp = started()
    child = await one_child(cp)
    await wait_until(lambda: lease_holder(client), timeout=60)
    await wait_until(lambda: lease_holder(client, "pyctl-scheduler"), timeout=60)

    cp.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cp.proc.wait, 60) == 0
    assert not alive(child)
    # Released, not left to expire: the child could still reach the parent's API server.
    await wait_until(lambda: released(client, LEASE_NAME), timeout=30)
    await wait_until(lambda: released(client, "pyctl-scheduler"), timeout=30)
    assert "[components]" in cp.output() and "released the lease" in cp.output()


async def test_a_crashed_child_is_restarted(started, client):
    cp = started()
    first = await one_child(cp)  # up: a child that dies before that fails the first start instead
    dead = await wait_until(lambda: lease_holder(client), timeout=60)
    os.kill(first, signal.SIGKILL)

    async def replaced():
        kids = cp.children()
        return kids[0] if kids and kids[0] != first and gateway_answers(cp.gateway) else None
    second = await wait_until(replaced, timeout=60, interval=0.2)
    assert cp.proc.poll() is None and alive(second)
    assert "exited unexpectedly with signal SIGKILL" in cp.output()
    # The parent hands the dead child's Lease back for it (a SIGKILLed child cannot), so the
    # next leader need not wait it out.
    assert f"{LEASE_NAME}: {dead} released the lease" in cp.output()
    holder = await wait_until(lambda: lease_holder(client), timeout=60)
    assert f"_{cp.proc.pid}_" in holder and holder != dead


async def test_a_child_that_cannot_start_stops_the_control_plane(started):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        cp = started("--gateway-listen", f"127.0.0.1:{taken.getsockname()[1]}")
        assert await asyncio.to_thread(cp.proc.wait, 120) == 1
    finally:
        taken.close()
    assert "exited with status 1 before its components ran" in cp.output()


async def test_secrets_reach_the_child_neither_in_argv_nor_in_its_environment(started, client, tmp_path):
    cp = started("--pki-dir", str(tmp_path / "pki"), "--authorization-mode", "RBAC")
    child = await one_child(cp)
    # Over HTTPS with the loopback token handed over on stdin: it authenticates and leads.
    await wait_until(lambda: lease_holder(client), timeout=60)
    argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[:-1]
    assert argv[1:] == [b"-m", b"controlplane.componentsproc", b"--parent-pid", str(cp.proc.pid).encode()]
    parent_env = Path(f"/proc/{cp.proc.pid}/environ").read_bytes()
    assert Path(f"/proc/{child}/environ").read_bytes() == parent_env
    ca_key = (tmp_path / "pki" / "ca.key").read_bytes()
    assert b"PRIVATE KEY" in ca_key and ca_key not in parent_env


async def test_inline_runs_everything_in_one_process(started, client):
    cp = started("--components-process=inline")
    holder = await wait_until(lambda: lease_holder(client), timeout=60)
    assert f"_{cp.proc.pid}_" in holder
    await wait_until(lambda: gateway_answers(cp.gateway), timeout=60)
    assert cp.children() == []
    cp.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cp.proc.wait, 60) == 0
    await wait_until(lambda: released(client, LEASE_NAME), timeout=30)
