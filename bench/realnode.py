"""A one-node real cluster for the root benchmarks: etcd, `pyctl-controlplane`, a local
registry holding the demo image (agent.images.build.seed_registry), and one real
`pyctl-agent` (runc + conmon + CNI bridge) with its own state dir, bridge and pod CIDR.

`async with real_node(workdir) as node:` removes everything it made on exit, by name:
pods through the API first (so the agent tears its own sandboxes down), then whatever
is left under its runc root, its mounts, its bridge and its pods' cgroups.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import aiohttp

from agent.images.build import seed_registry
from agent.network import netns as nsmod
from tests.e2e.helpers import cgroup_dirs
from tests.images import Registry

from .cluster import Etcd, Process, spawn, start_controlplane, stop_all, wait_for
from .scheduler import ready_nodes

PODS = "/api/v1/namespaces/default/pods"


@dataclass
class RealNode:
    url: str
    session: aiohttp.ClientSession
    image: str
    agent: Process
    state: Path
    bridge: str
    cidr: str
    tag: str

    async def delete_all_pods(self, timeout: float = 120) -> None:
        async with self.session.delete(self.url + PODS, params={"gracePeriodSeconds": "0"}) as r:
            await r.read()

        async def gone() -> bool:
            async with self.session.get(self.url + PODS) as r:
                return not (await r.json())["items"]
        await wait_for(gone, timeout, "every pod deleted", 0.2)


def free_cidr() -> str:
    """A /24 in 10.245.0.0/16 that no local route uses (e2e tests use 10.244.x)."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(50):
        cidr = f"10.245.{random.randint(1, 254)}.0/24"
        if cidr.rsplit(".", 1)[0] + "." not in routes:
            return cidr
    raise RuntimeError("no free 10.245.x.0/24 for the benchmark's bridge")


@contextlib.asynccontextmanager
async def real_node(workdir: str, name: str) -> AsyncIterator[RealNode]:
    tag = uuid.uuid4().hex[:6]
    state = Path(workdir) / f"{name}-agent"
    bridge, cidr = f"pyb{tag}", free_cidr()
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    etcd = Etcd().start()
    registry = Registry().start()
    cp = agent = None
    session = aiohttp.ClientSession()
    try:
        await seed_registry(registry.host)
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, f"{name}-controlplane.log"))
        agent = spawn("agent", "-m", "agent", "--server", gw, "--node-name", f"bench-{tag}",
                      "--state-dir", str(state), "--pod-cidr", cidr, "--bridge", bridge,
                      "--registry-auth", "/nonexistent", "--node-ip", "127.0.0.1",
                      "--agent-listen", "127.0.0.1:0", "--cgroup-parent", f"pyctl-bench-{tag}", log=os.path.join(workdir, f"{name}-agent.log"))
        await wait_for(lambda: ready_nodes(session, url), 60, "the real node Ready", 0.2)
        node = RealNode(url, session, f"{registry.host}/pyctl/demo:1.0", agent, state, bridge, cidr, tag)
        try:
            yield node
        finally:
            with contextlib.suppress(Exception):
                await node.delete_all_pods()
    finally:
        await session.close()
        stop_all(agent, cp, registry, etcd)
        leftovers(state, bridge, f"pyctl-bench-{tag}")
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)


def leftovers(state: Path, bridge: str, cgroup_parent: str) -> None:
    """Remove what the agent or a crashed run left: containers under our runc root, mounts under
    our state dir, our bridge, our (empty) cgroups. Only things this benchmark named."""
    root = state / "runtime" / "runc"
    if root.exists():
        out = subprocess.run(["runc", "--root", str(root), "list", "--format", "json"],
                             capture_output=True, text=True).stdout
        for c in json.loads(out or "null") or []:
            subprocess.run(["runc", "--root", str(root), "delete", "--force", c["id"]], capture_output=True)
    for target in nsmod.mounts_under(state):
        subprocess.run(["umount", "-l", target], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    remove_cgroups(cgroup_parent)


def remove_cgroups(parent: str) -> None:
    for d in cgroup_dirs(parent):
        for sub in sorted(Path(d).glob("**/"), key=lambda p: len(str(p)), reverse=True):
            with contextlib.suppress(OSError):
                sub.rmdir()
