"""`up`, `down` and `status` of a local cluster: the parts in the order they depend on
each other (network, supervisor, etcd, control plane, registry, agents) and back.

`up` starts the cluster's supervisor and asks it for each process in turn, waiting until
that one serves; from then on the supervisor restarts whatever exits. Every step checks
before it acts, so `up` on a half-started cluster starts only what is missing, and `down`
stops the supervisor first, then clears whatever the state file names, whether or not it
still runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..bootstraptokens import delete_token
from ..errors import CommandError, PyctlError
from ..humanize import human_duration
from .. import addons
from . import hostnet, leftovers, procs, registry, security, state, supervision
from .components import Component, components, log_file, pid_of, pidfile
from .state import Cluster

NEEDED = ("ip", "iptables", "nsenter", "etcd", registry.BINARY, leftovers.RUNC, "/usr/bin/conmon")
CNI_PLUGINS = Path("/usr/lib/cni")
__all__ = ["components", "pid_of", "up", "down", "status"]


def _ensure_running(c: Cluster, comp: Component, out: TextIO, starting: set[str], timeout: float = 60) -> None:
    """Have the supervisor keep `comp` running and wait until it serves; fail as soon as it
    exits instead (the supervisor goes on restarting it, with back-off)."""
    if comp.name in starting:
        out.write(f"starting {comp.name} on {comp.address}\n")
    since = time.time()
    supervision.want(c, [comp.name])

    def exited() -> str | None:
        rec = supervision.read_report(c.dir).components.get(comp.name)
        if rec is not None and rec.exit_at is not None and rec.exit_at >= since:
            return rec.exit_reason or "exited"
        return None

    alive = lambda: exited() is None and supervision.supervisor_pid(c.dir) is not None  # noqa: E731
    if not procs.wait_for(comp.ready, alive, timeout):
        why = exited() or ("the supervisor stopped" if supervision.supervisor_pid(c.dir) is None
                           else f"not serving after {timeout:.0f}s")
        log = log_file(c, comp.name)
        raise CommandError(f"{comp.name} did not start ({why}); the supervisor keeps trying, with back-off "
                           f"(pyctl cluster status --name {c.name}); the end of {log}:\n{supervision.tail(log)}")


DEMO_TAGS = ("1.0", "1.1")
"""The README's tour rolls 1.0 out to 1.1: the same image under two tags."""


def _seed(c: Cluster) -> None:
    """Push the demo image under the names manifests use (localhost:5000/pyctl/demo:TAG),
    through the same mirror mapping the agents get: the registry is on the bridge."""
    from agent.images.build import demo_image, push_image
    from agent.images.registry import RegistryClient

    async def push() -> None:
        client = RegistryClient(auth_file="/nonexistent",
                                mirrors={state.IMAGE_HOST: f"http://{c.registry}"})
        try:
            image = demo_image()
            for tag in DEMO_TAGS:
                await push_image(client, f"{state.IMAGE_HOST}/pyctl/demo:{tag}", image)
        finally:
            await client.close()
    asyncio.run(push())


def node_conditions(c: Cluster) -> dict[str, str]:
    """Node name → its Ready condition status ("True", "False", "Unknown"), from the API."""
    client = security.admin_client(c, timeout=5)
    try:
        items = client.get("/api/v1/nodes").get("items") or []
    except (OSError, ValueError, PyctlError):
        return {}
    finally:
        client.close()
    ready = {}
    for node in items:
        conds = (node.get("status") or {}).get("conditions") or []
        ready[node["metadata"]["name"]] = next((x.get("status", "Unknown") for x in conds
                                                if x.get("type") == "Ready"), "Unknown")
    return ready


def _check_host() -> None:
    if os.geteuid() != 0:
        raise CommandError("pyctl cluster up/down must run as root (it creates network namespaces)")
    missing = [b for b in NEEDED if shutil.which(b) is None]
    if not (CNI_PLUGINS / "bridge").exists() and not Path("/opt/cni/bin/bridge").exists():
        missing.append("CNI plugins (containernetworking-plugins)")
    if missing:
        raise CommandError(f"missing on this machine: {', '.join(missing)}; run deploy/install-deps.sh")


def _start_agents(c: Cluster, out: TextIO, starting: set[str]) -> str | None:
    """Have the supervisor run every agent; if one that is not running never joined, a
    bootstrap token made for this `up` goes to it (returned, to be deleted once the nodes are
    Ready)."""
    token = None
    if c.secure and any(f"agent-{n.name}" in starting and not security.has_joined(n.state_dir)
                        for n in c.nodes):
        client = security.admin_client(c)
        try:
            join, token = security.join_flags(c, client)
        finally:
            client.close()
        supervision.set_join_flags(c, join)
    for comp in components(c)[3:]:
        _ensure_running(c, comp, out, starting)
    return token


def _revoke(c: Cluster, token: str | None) -> None:
    if token is None:
        return
    supervision.clear_join_flags(c)
    client = security.admin_client(c)
    try:
        delete_token(client, token)
    finally:
        client.close()


def up(name: str, nodes: int, controlplane_args: list[str], out: TextIO, *,
       kubeconfig: str | None = None, wait: float = 180, insecure: bool = False) -> Cluster:
    _check_host()
    if not 1 <= nodes <= 200:
        raise CommandError(f"--nodes must be between 1 and 200, not {nodes}")
    with state.locked():
        c = state.load(name)
        if c is None:
            c = state.allocate(name, nodes, controlplane_args, secure=not insecure)
            out.write(f"creating cluster {name!r}: nodes on {c.bridge} {c.subnet}, pods in {c.cluster_cidr}\n")
            if insecure:
                out.write("WARNING: --insecure: plain HTTP, no authentication or authorization, node "
                          "join without a token, Secrets stored in clear; for debugging only\n")
        else:
            if insecure and c.secure:
                raise CommandError(f"cluster {name!r} exists and is secure; --insecure applies when a "
                                   f"cluster is created (pyctl cluster down --name {name} first)")
            c.nodes += [c.node(i) for i in range(len(c.nodes) + 1, nodes + 1)]
        c.save()
        security.ensure_files(c)
        hostnet.mark_netns_dir()
        hostnet.ensure_bridge(c)
        c.save()
        for n in c.nodes:
            hostnet.ensure_node(c, n)
    (c.dir / "registry").mkdir(parents=True, exist_ok=True)
    registry.write_config(c.dir / "registry", c.registry)
    parts = components(c)
    starting = {comp.name for comp in parts if pid_of(c, comp.name) is None}
    if supervision.ensure_supervisor(c) is not None:
        out.write("starting supervisor (it restarts any process of the cluster that exits)\n")
    for comp in parts[:3]:
        _ensure_running(c, comp, out, starting)
    _seed(c)
    token = _start_agents(c, out, starting)
    path = security.write_client_config(c, kubeconfig)
    names = [n.name for n in c.nodes]
    if not procs.wait_for(lambda: all(node_conditions(c).get(n) == "True" for n in names),
                          lambda: True, wait, interval=0.5):
        raise CommandError(f"nodes not Ready after {wait:.0f}s: {node_conditions(c)}; "
                           f"see the agent logs in {c.dir / 'logs'}")
    _revoke(c, token)  # every node holds its certificate now: the token has done its job
    client = security.admin_client(c)
    try:
        for made in addons.install(client):
            out.write(f"created {made} (the default: Ingresses are served by every node's proxy)\n")
    finally:
        client.close()
    out.write(f"cluster {name!r} is up: {len(names)} nodes Ready, API {c.api_url}, "
              f"images {state.IMAGE_HOST} (served at {c.registry})\n{security.describe(c)}\n"
              f"client config: {path} (context {name}); try: pyctl get nodes -o wide\n")
    return c


def down(name: str, out: TextIO, *, kubeconfig: str | None = None) -> bool:
    """Remove everything cluster `name` made; False if there is no such cluster."""
    _check_host()
    with state.locked():
        c = state.load(name)
        if c is None:
            return False
        problems: list[str] = []
        supervision.stop_supervisor(c)  # first: it would start again what we stop
        for n in c.nodes:  # agents first, so none starts a pod while we clear them
            procs.stop(pidfile(c, f"agent-{n.name}"))
        for n in c.nodes:
            problems += leftovers.clear(n)
            hostnet.remove_node(n)
        for comp in ("registry", "controlplane", "etcd"):
            procs.stop(pidfile(c, comp))
        # Anything of the cluster no pidfile named (a process whose record was lost): every
        # one names the state dir, but an insecure control plane, which names its etcd.
        strays = [pid for marker in (f"{c.dir}/", f"--etcd-servers http://127.0.0.1:{c.etcd_port} ")
                  for pid in leftovers.kill_mentioning(marker)]
        hostnet.remove_bridge(c)
        for target in leftovers.mounts_under(c.dir):
            subprocess.run(["umount", "-l", target], capture_output=True)
        security.forget_client_config(c, kubeconfig)
        shutil.rmtree(c.dir, ignore_errors=True)
        hostnet.unmark_netns_dir()
    if strays:
        out.write(f"stopped {len(strays)} process(es) of the cluster no pidfile named: "
                  f"{', '.join(map(str, strays))}\n")
    for p in problems:
        out.write(f"warning: could not remove {p}\n")
    out.write(f"cluster {name!r} deleted\n")
    return True


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    address: str
    status: str
    """running (serving), starting (runs, not serving yet), restarting (exited; the supervisor
    starts it again after its back-off), or down (not running, and nothing will start it)."""
    restarts: int | None
    last_exit: str
    """Why and when it last exited (`killed by SIGKILL, 2m ago`), or `-`."""


def status(name: str) -> tuple[Cluster, list[ProcessStatus], dict[str, str]]:
    """The cluster, its processes (the supervisor first), and node readiness."""
    c = state.load(name)
    if c is None:
        raise CommandError(f"no cluster named {name!r} (see /var/lib/pyctl/clusters)")
    report = supervision.read_report(c.dir)
    supervised = supervision.supervisor_pid(c.dir)
    now = time.time()
    rows = [ProcessStatus(supervision.NAME, supervised, "-", "running" if supervised else "down", None, "-")]
    for comp in components(c):
        pid = pid_of(c, comp.name)
        rec = report.components.get(comp.name)
        if pid is not None:
            st = "running" if comp.ready() else "starting"
        else:
            st = "restarting" if supervised and rec is not None and rec.state == "restarting" else "down"
        last = "-"
        if rec is not None and rec.exit_at is not None:
            last = f"{rec.exit_reason}, {human_duration(now - rec.exit_at)} ago"
        rows.append(ProcessStatus(comp.name, pid, comp.address, st, rec.restarts if rec else 0, last))
    return c, rows, node_conditions(c)
