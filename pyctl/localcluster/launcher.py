"""`up`, `down` and `status` of a local cluster: the parts in the order they depend on
each other (network, etcd, control plane, registry, agents) and back.

Every step checks before it acts, so `up` on a half-started cluster starts only what is
missing, and `down` clears whatever the state file names, whether or not it still runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from ..errors import CommandError, PyctlError
from . import hostnet, leftovers, procs, registry, security, state
from .state import Cluster

NEEDED = ("ip", "iptables", "nsenter", "etcd", registry.BINARY, leftovers.RUNC, "/usr/bin/conmon")
CNI_PLUGINS = Path("/usr/lib/cni")


@dataclass(frozen=True)
class Component:
    name: str
    address: str
    argv: list[str]
    ready: Callable[[], bool]
    """True once the component serves (checked after start, up to its timeout)."""


def _answers(url: str, context: ssl.SSLContext | None = None) -> Callable[[], bool]:
    # No proxy: every target is local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))

    def check() -> bool:
        try:
            opener.open(url, timeout=1).close()
            return True
        except OSError:
            return False
    return check


def _listens(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    return check


def _python(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def _child_env() -> dict[str, str]:
    # The control plane and agent packages sit beside this one (an editable checkout or
    # site-packages); make them importable whatever the caller's working directory.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def components(c: Cluster, join: list[str] | None = None) -> list[Component]:
    """Every process of the cluster; `join` are the flags an agent that has no node certificate
    yet starts with (a bootstrap token)."""
    etcd = f"http://127.0.0.1:{c.etcd_port}"
    peer = f"http://127.0.0.1:{c.etcd_peer_port}"
    cfg = c.dir / "registry" / "config.yml"
    out = [
        Component("etcd", f"127.0.0.1:{c.etcd_port}",
                  ["etcd", "--name", c.name, "--data-dir", str(c.dir / "etcd"),
                   "--listen-client-urls", etcd, "--advertise-client-urls", etcd,
                   "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                   "--initial-cluster", f"{c.name}={peer}", "--auto-compaction-retention", "1h"],
                  _answers(f"{etcd}/health")),
        Component("controlplane", f"127.0.0.1:{c.api_port}",
                  [*_python("controlplane"), "--etcd-servers", etcd, "--listen", f"127.0.0.1:{c.api_port}",
                   "--gateway-listen", f"{c.host_ip}:{c.gateway_port}", "--cluster-cidr", c.cluster_cidr,
                   "--service-cluster-ip-range", c.service_cidr,
                   # Nothing listens beyond loopback and the cluster's own bridge.
                   "--gateway-join-listen", f"{c.host_ip}:{c.gateway_port + 1}",
                   *security.controlplane_flags(c), *c.controlplane_args],
                  _answers(f"{c.api_url}/readyz", security.ca_context(c))),
        Component("registry", c.registry, registry.argv(cfg), lambda: registry.serving(c.registry)),
    ]
    mirror = f"{state.IMAGE_HOST}=http://{c.registry}"
    for n in c.nodes:
        out.append(Component(f"agent-{n.name}", f"{n.ip}:{state.AGENT_PORT}", [
            *hostnet.nsenter(n), *_python("agent"), "--server", f"{c.host_ip}:{c.gateway_port}",
            "--node-name", n.name, "--runtime", "runc", "--state-dir", n.state_dir, "--node-ip", n.ip,
            "--agent-listen", f"{n.ip}:{state.AGENT_PORT}", "--pod-cidr", n.pod_cidr,
            "--cluster-cidr", c.cluster_cidr, "--cgroup-parent", n.cgroup_parent,
            "--registry-mirror", mirror, *([] if security.has_joined(n.state_dir) else join or [])],
            _listens(n.ip, state.AGENT_PORT)))
    return out


def _pidfile(c: Cluster, comp: str) -> Path:
    return c.dir / "run" / f"{comp}.pid"


def pid_of(c: Cluster, comp: str) -> int | None:
    """The pid of a running component ("etcd", "controlplane", "agent-NODE"), else None."""
    return procs.read_pid(_pidfile(c, comp))


def _log(c: Cluster, comp: str) -> Path:
    return c.dir / "logs" / f"{comp}.log"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _ensure_running(c: Cluster, comp: Component, out: TextIO, timeout: float = 60) -> None:
    pidfile = _pidfile(c, comp.name)
    if procs.read_pid(pidfile) is None:
        out.write(f"starting {comp.name} on {comp.address}\n")
        procs.start(comp.argv, pidfile, _log(c, comp.name), env=_child_env())
    if not procs.wait_for(comp.ready, lambda: procs.read_pid(pidfile) is not None, timeout):
        log = _log(c, comp.name)
        raise CommandError(f"{comp.name} did not start; the end of {log}:\n{_tail(log)}")


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


def _start_agents(c: Cluster, out: TextIO) -> str | None:
    """Start the agents not running; those that never joined get a bootstrap token made for
    this `up` (returned, to be deleted once the nodes are Ready)."""
    waiting = [n for n in c.nodes if procs.read_pid(_pidfile(c, f"agent-{n.name}")) is None]
    join: list[str] = []
    token = None
    if c.secure and any(not security.has_joined(n.state_dir) for n in waiting):
        client = security.admin_client(c)
        try:
            join, token = security.join_flags(c, client)
        finally:
            client.close()
    for comp in components(c, join)[3:]:
        _ensure_running(c, comp, out)
    return token


def _revoke(c: Cluster, token: str | None) -> None:
    from ..commands.token import delete_token

    if token is None:
        return
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
    for comp in parts[:3]:
        _ensure_running(c, comp, out)
    _seed(c)
    token = _start_agents(c, out)
    path = security.write_client_config(c, kubeconfig)
    names = [n.name for n in c.nodes]
    if not procs.wait_for(lambda: all(node_conditions(c).get(n) == "True" for n in names),
                          lambda: True, wait, interval=0.5):
        raise CommandError(f"nodes not Ready after {wait:.0f}s: {node_conditions(c)}; "
                           f"see the agent logs in {c.dir / 'logs'}")
    _revoke(c, token)  # every node holds its certificate now: the token has done its job
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
        for n in c.nodes:  # agents first, so none starts a pod while we clear them
            procs.stop(_pidfile(c, f"agent-{n.name}"))
        for n in c.nodes:
            problems += leftovers.clear(n)
            hostnet.remove_node(n)
        for comp in ("registry", "controlplane", "etcd"):
            procs.stop(_pidfile(c, comp))
        hostnet.remove_bridge(c)
        for target in leftovers.mounts_under(c.dir):
            subprocess.run(["umount", "-l", target], capture_output=True)
        security.forget_client_config(c, kubeconfig)
        shutil.rmtree(c.dir, ignore_errors=True)
        hostnet.unmark_netns_dir()
    for p in problems:
        out.write(f"warning: could not remove {p}\n")
    out.write(f"cluster {name!r} deleted\n")
    return True


def status(name: str) -> tuple[Cluster, list[tuple[str, str, str, str]], dict[str, str]]:
    """The cluster, a (component, pid, address, up/down) row per process, and node readiness."""
    c = state.load(name)
    if c is None:
        raise CommandError(f"no cluster named {name!r} (see /var/lib/pyctl/clusters)")
    rows = []
    for comp in components(c):
        pid = procs.read_pid(_pidfile(c, comp.name))
        rows.append((comp.name, str(pid or "-"), comp.address, "up" if pid and comp.ready() else "down"))
    return c, rows, node_conditions(c)
