"""What an agent tells the gateway about its node when it registers."""

from __future__ import annotations

import os
import platform
import socket
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from pyctl_proto import node_pb2 as pb

from .runtime.bundle import quantity

AGENT_VERSION = "v1.37.0-pyctl"  # kubelet-style, the API version the API server reports (no skew)

HOLLOW_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}


@dataclass
class NodeRegistration:
    node_name: str
    addresses: list[tuple[str, str]]          # (type, address)
    capacity: dict[str, str]
    allocatable: dict[str, str]
    runtime_version: str
    labels: dict[str, str] = field(default_factory=dict)
    agent_port: int = 0
    machine_id: str = ""
    boot_id: str = ""
    kernel_version: str = ""
    os_image: str = ""
    local_storage: tuple[str, int] | None = None
    """(--volume-dir, bytes local volumes may take there): the provisioner's home; None: none."""

    def to_proto(self) -> pb.Register:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        storage = None if self.local_storage is None else pb.LocalStorage(
            path=self.local_storage[0], capacity_bytes=self.local_storage[1])
        return pb.Register(
            local_storage=storage,
            node_name=self.node_name,
            addresses=[pb.NodeAddress(type=t, address=a) for t, a in self.addresses],
            capacity=self.capacity, allocatable=self.allocatable, labels=self.labels,
            agent_port=self.agent_port,
            node_info=pb.NodeInfo(
                machine_id=self.machine_id, system_uuid=self.machine_id, boot_id=self.boot_id,
                kernel_version=self.kernel_version, os_image=self.os_image,
                container_runtime_version=self.runtime_version, kubelet_version=AGENT_VERSION,
                kube_proxy_version="", operating_system="linux", architecture=arch))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def _memory() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1])}Ki"
    return "0"


def hollow_registration(node_name: str, runtime_version: str, host_ip: str = "127.0.0.1") -> NodeRegistration:
    """A simulated node: fixed capacity, ids derived from its name (stable across restarts)."""
    ident = uuid.uuid5(uuid.NAMESPACE_DNS, f"{node_name}.hollow.pyctl").hex
    return NodeRegistration(
        node_name=node_name, addresses=[("InternalIP", host_ip), ("Hostname", node_name)],
        capacity=dict(HOLLOW_CAPACITY), allocatable=dict(HOLLOW_CAPACITY),
        runtime_version=runtime_version, labels={"pyctl.io/hollow": "true"},
        machine_id=ident, boot_id=ident, kernel_version="hollow", os_image="pyctl hollow node")


def parse_reserved(text: str) -> dict[str, str]:
    """`cpu=100m,memory=256Mi` (the kubelet's --system-reserved form); ValueError names the bad part."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in ("cpu", "memory", "pods"):
            raise ValueError(f"{part!r}: expected cpu=QUANTITY, memory=QUANTITY or pods=N")
        quantity(value)  # raises ValueError on a bad quantity
        out[name] = value
    return out


def allocatable(capacity: dict[str, str], reserved: dict[str, str]) -> dict[str, str]:
    """Capacity minus what the operator keeps for the system (never below zero)."""
    out = dict(capacity)
    for name, value in reserved.items():
        if name in capacity:
            left = max(quantity(capacity[name]) - quantity(value), Decimal(0))
            out[name] = f"{int(left * 1000)}m" if name == "cpu" else str(int(left))
    return out


def local_registration(node_name: str, runtime_version: str, host_ip: str, agent_port: int = 0,
                       reserved: dict[str, str] | None = None) -> NodeRegistration:
    """This machine as it is: CPUs, memory, kernel, OS image, machine id; allocatable is the
    capacity minus `reserved` (for the OS, the agent and conmon)."""
    capacity = {"cpu": str(os.cpu_count() or 1), "memory": _memory(), "pods": "110"}
    return NodeRegistration(
        node_name=node_name, addresses=[("InternalIP", host_ip), ("Hostname", socket.gethostname())],
        capacity=capacity, allocatable=allocatable(capacity, reserved or {}), runtime_version=runtime_version,
        agent_port=agent_port, machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"), kernel_version=platform.release(),
        os_image=_os_image())
