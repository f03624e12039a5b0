"""Secret volumes on a real runc agent (root): the container reads them, with the modes the
pod asked for (Kubernetes' defaultMode 0644 unless set), while an unprivileged local user of
the node cannot, even when the agent's state dir was made world-readable before it started."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import AsyncIterator

import pytest

from ..cluster import wait_until
from .test_pod_config import NS, cluster, run_in  # noqa: F401  (the fixture)
from .test_runtime import Node, node_at, pytestmark  # noqa: F401  (the root/runc skip)

NOBODY = 65534


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    """test_runtime's node, under a 0755 dir any local user may enter (as /var/lib is), its state
    dir made 0755 beforehand (as a hand-made --state-dir would be), not under pytest's 0700 tmp."""
    base = Path(tempfile.mkdtemp(prefix="pyctl-secret-test-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "state").mkdir(mode=0o755)
        async with node_at(base) as n:
            yield n
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    # setpriv (util-linux), not subprocess's user=: its setuid in a threaded parent can crash the child.
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=30)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_a_local_user_cannot_read_a_secret_volume_the_container_can(cluster, node: Node) -> None:  # noqa: F811
    client = cluster
    secret = {"metadata": {"name": "db"}, "data": {"pw": base64.b64encode(b"hunter2").decode()}}
    assert (await client.request("POST", f"{NS}/secrets", secret))[0] == 201
    manifest = {"metadata": {"name": "sec"}, "spec": {
        "nodeName": "e1",
        "volumes": [{"name": "plain", "secret": {"secretName": "db"}},
                    {"name": "strict", "secret": {"secretName": "db", "defaultMode": 0o440}}],
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "plain", "mountPath": "/etc/plain"},
                                         {"name": "strict", "mountPath": "/etc/strict"}]},
                       {"name": "user", "image": "busybox", "command": ["sleep", "3600"],
                        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000},
                        "volumeMounts": [{"name": "plain", "mountPath": "/etc/plain"},
                                         {"name": "strict", "mountPath": "/etc/strict"}]}]}}
    status, created = await client.request("POST", f"{NS}/pods", manifest)
    assert status == 201, created
    uid = created["metadata"]["uid"]
    async def both_running() -> bool:
        _, got = await client.request("GET", f"{NS}/pods/sec")
        return [("running" in (c.get("state") or {})) for c in got["status"].get("containerStatuses") or []] == \
            [True, True]
    await wait_until(both_running, timeout=60)

    # The container (root) reads both; a non-root user in it reads the 0644 one, as in Kubernetes.
    assert await run_in(node, uid, "cat /etc/plain/pw /etc/strict/pw") == "hunter2hunter2"
    assert await run_in(node, uid, "stat -L -c %a /etc/plain/pw /etc/strict/pw") == "644\n440"
    assert await node.rt.exec_in_container(uid, "user", ["sh", "-c", "id -u; cat /etc/plain/pw"],
                                           timeout=20) == (0, "1000\nhunter2")
    code, out = await node.rt.exec_in_container(uid, "user", ["cat", "/etc/strict/pw"], timeout=20)
    assert code != 0 and "Permission denied" in out, out  # 0440, root's: as in Kubernetes

    volumes = node.state / "pods" / uid / "config-volumes"
    on_node = volumes / "plain" / "pw"
    assert on_node.read_bytes() == b"hunter2"  # root on the node still can
    refused = as_nobody("cat", str(on_node))
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused
    assert as_nobody("ls", str(volumes)).returncode != 0
    # Each layer on its own keeps local users out: the state dirs and the tmpfs, all root only.
    assert {p.name: mode(p) for p in (node.state, node.state / "pods", node.state / "pods" / uid, volumes)} == \
        {p.name: 0o700 for p in (node.state, node.state / "pods", node.state / "pods" / uid, volumes)}
    assert os.path.ismount(volumes)
