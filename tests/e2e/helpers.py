"""Helpers for runtime e2e tests: a busybox rootfs, per-test network names, leak checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from pyctl.localcluster.leftovers import processes_mentioning  # noqa: F401  (tests import it from here)

BUSYBOX = "/bin/busybox"


def busybox_rootfs(dest: Path) -> Path:
    """A minimal root filesystem: static busybox and a symlink per applet."""
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    for name in applets.split():
        link = dest / "bin" / name
        if name != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    os.chmod(dest / "tmp", 0o1777)
    return dest


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
            "spec": {"containers": containers, **spec}}


def container(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": list(command), **extra}


def host_local_allocations(data_dir: Path, uid: str) -> list[str]:
    """IPs host-local holds for a pod (its files are named by IP and hold the container id)."""
    return [p.name for p in data_dir.rglob("*") if p.is_file()
            and p.name != "lock" and not p.name.startswith("last_reserved_ip")
            and uid in p.read_text(errors="replace")]


def cgroup_dirs(parent: str) -> list[str]:
    return [str(c / parent) for c in Path("/sys/fs/cgroup").iterdir() if (c / parent).exists()]


def store_rootfs(images: Any):
    """A runtime's `rootfs_for` hook over an ImageStore, as agent/main.py uses it."""
    return images.rootfs


def fast_agent(gateway_address: str, runtime: Any, node_name: str = "e1", listen: str | None = None) -> Any:
    """A started agent for `runtime` behind a gateway, with test-speed resyncs and back-offs;
    `listen`: where it serves logs and exec for the API server (None: not served)."""
    from agent.node import Agent
    from agent.nodeinfo import local_registration
    from agent.pods import PodTimings
    from agent.session import SessionConfig
    return Agent(gateway_address, local_registration(node_name, runtime.version, "127.0.0.1"), runtime,
                 host_ip="127.0.0.1", pod_timings=PodTimings(resync_period=0.2, backoff_base=0.2),
                 session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5), listen=listen).start()
