"""The processes of a local cluster: for each, its command line, address, readiness check,
pidfile (`run/NAME.pid`) and log (`logs/NAME.log`) under the cluster's state dir.

`up` and the supervisor both build command lines here, so a process the supervisor restarts
runs exactly as `up` first started it (agents inside their node's netns, through nsenter).
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import hostnet, procs, registry, security, state
from .state import Cluster


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


def child_env() -> dict[str, str]:
    """The environment of every process of the cluster, the supervisor's included."""
    # The control plane and agent packages sit beside this one (an editable checkout or
    # site-packages); make them importable whatever the caller's working directory.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *paths])
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
                  # Pods reach the API through the `kubernetes` Service: its endpoint is the
                  # bridge address, where the API listens beside loopback.
                  [*_python("controlplane"), "--etcd-servers", etcd,
                   "--listen", f"127.0.0.1:{c.api_port},{c.host_ip}:{c.api_port}", "--advertise-address", c.host_ip,
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


def pidfile(c: Cluster, comp: str) -> Path:
    return c.dir / "run" / f"{comp}.pid"


def log_file(c: Cluster, comp: str) -> Path:
    return c.dir / "logs" / f"{comp}.log"


def pid_of(c: Cluster, comp: str) -> int | None:
    """The pid of a running component ("etcd", "controlplane", "agent-NODE"), else None."""
    return procs.read_pid(pidfile(c, comp))
