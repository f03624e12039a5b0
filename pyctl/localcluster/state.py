"""The record of one local cluster, `/var/lib/pyctl/clusters/NAME/cluster.json`, and the
choice of its names, addresses and ports.

Everything `down` removes is named here, so `down` works from this file alone even when
every process has died. Allocation happens under a lock so two `up`s never pick the same
bridge subnet, cluster CIDR or port.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import re
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import CommandError

ROOT = Path("/var/lib/pyctl/clusters")
# Bridge names are at most 15 bytes (IFNAMSIZ - 1) and we use `pyc-NAME`.
NAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,9}[a-z0-9])?")
NODE_SUBNETS = "172.30.{}.0/24"
CLUSTER_CIDRS = [f"10.{n}.0.0/16" for n in range(244, 255)]  # 10.244/16 first, as kubeadm's flannel
API_PORT = 6443
GATEWAY_PORT = 7443
REGISTRY_PORT = 5000
AGENT_PORT = 10250
IMAGE_HOST = "localhost:5000"
"""The registry host the example manifests name; agents are told where it really is."""


@dataclass
class Node:
    name: str
    netns: str
    veth: str
    """The host end, enslaved to the cluster's bridge; the node end is `eth0` in the netns."""
    ip: str
    pod_cidr: str
    cgroup_parent: str
    """Every pod cgroup of this node lives under it, so `down` finds them by this name."""
    state_dir: str


@dataclass
class Cluster:
    name: str
    index: int
    """The N of the bridge subnet 172.30.N.0/24; it also keeps veth names apart."""
    bridge: str
    subnet: str
    cluster_cidr: str
    etcd_port: int
    etcd_peer_port: int
    api_port: int
    registry_port: int = REGISTRY_PORT
    gateway_port: int = GATEWAY_PORT
    controlplane_args: list[str] = field(default_factory=list)
    """Extra flags for pyctl-controlplane (short grace periods in tests)."""
    secure: bool = False
    """TLS, RBAC, token join and Secrets encryption (security.py). `up` sets it unless
    --insecure; records written before it existed lack it, and those clusters were insecure."""
    forward_rule: bool = False
    """Whether we inserted an iptables FORWARD accept for the bridge (removed by down)."""
    nodes: list[Node] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return ROOT / self.name

    @property
    def host_ip(self) -> str:
        """The bridge's address: the gateway and the registry listen here, for the agents."""
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def service_cidr(self) -> str:
        """The ClusterIP range, one per cluster CIDR: 10.96/16 beside 10.244/16, 10.97/16 beside
        10.245/16, ... (derived, so records written before it existed get one too)."""
        return service_cidr_for(self.cluster_cidr)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def api_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.api_port}"

    @property
    def registry(self) -> str:
        return f"{self.host_ip}:{self.registry_port}"

    def node(self, i: int) -> Node:
        """Node i (1-based): its netns, veth, address and podCIDR follow from the cluster's."""
        net = ipaddress.ip_network(self.subnet)
        cidr = ipaddress.ip_network(self.cluster_cidr)
        pods = ipaddress.ip_network((int(cidr.network_address) + (i << 8), 24))
        name = f"{self.name}-node-{i}"
        return Node(name=name, netns=f"pyctl-{name}", veth=f"pyv{self.index}-{i}",
                    ip=str(net[10 + i]), pod_cidr=str(pods), cgroup_parent=f"pyctl-{name}",
                    state_dir=str(self.dir / "nodes" / name))

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "cluster.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(self.dir / "cluster.json")


def service_cidr_for(cluster_cidr: str) -> str:
    second = ipaddress.ip_network(cluster_cidr).network_address.packed[1]
    return f"10.{96 + second - 244}.0.0/16"


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise CommandError(f"invalid cluster name {name!r}: use 1-11 lowercase letters, digits or '-', "
                           "starting and ending with a letter or digit")
    return name


def load(name: str) -> Cluster | None:
    try:
        doc = json.loads((ROOT / check_name(name) / "cluster.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read the state of cluster {name!r}: {e}") from None
    nodes = [Node(**n) for n in doc.pop("nodes", [])]
    return Cluster(**doc, nodes=nodes)


def all_clusters() -> list[Cluster]:
    names = sorted(p.parent.name for p in ROOT.glob("*/cluster.json")) if ROOT.is_dir() else []
    return [c for c in (load(n) for n in names) if c is not None]


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One `up`/`down` at a time on this machine: allocation reads every cluster's state."""
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def host_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every IPv4 network the host routes or has an address in, except the default route."""
    nets = []
    for argv in (["ip", "-4", "route", "show", "table", "all"], ["ip", "-4", "-o", "addr", "show"]):
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            words = line.split()
            if argv[2] == "-o" and len(words) > 3:
                words = [words[3]]
            for w in words[:3]:
                if w == "default":
                    break
                try:
                    nets.append(ipaddress.ip_network(w, strict=False))
                    break
                except ValueError:
                    continue
    return nets


def free_port(preferred: int = 0, taken: frozenset[int] | set[int] = frozenset()) -> int:
    """`preferred` on 127.0.0.1 if nobody listens there, else one the kernel picks."""
    for port in ([preferred] if preferred else []) + [0] * 20:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise CommandError("no free loopback port")


def allocate(name: str, nodes: int, controlplane_args: list[str], secure: bool = True) -> Cluster:
    """A new cluster's record: a bridge subnet and cluster CIDR no other cluster and no host
    route uses, and free loopback ports. Call under `locked()`."""
    others = all_clusters()
    used = host_networks()

    def free(net: str, mine: set[str]) -> bool:
        n = ipaddress.ip_network(net)
        return net not in mine and not any(n.overlaps(u) for u in used)

    subnets = {c.subnet for c in others}
    index = next((i for i in range(1, 255) if free(NODE_SUBNETS.format(i), subnets)), None)
    cidr = next((c for c in CLUSTER_CIDRS if free(c, {o.cluster_cidr for o in others})
                 and free(service_cidr_for(c), {o.service_cidr for o in others})), None)
    if index is None or cidr is None:
        raise CommandError("no free address range for another cluster (172.30.N.0/24 and 10.244-254.0.0/16 "
                           "are all in use by host routes or other clusters)")
    taken = {p for c in others for p in (c.etcd_port, c.etcd_peer_port, c.api_port)}
    api = free_port(API_PORT, taken)
    etcd = free_port(0, taken | {api})
    peer = free_port(0, taken | {api, etcd})
    cluster = Cluster(name=name, index=index, bridge=f"pyc-{name}", subnet=NODE_SUBNETS.format(index),
                      cluster_cidr=cidr, etcd_port=etcd, etcd_peer_port=peer, api_port=api,
                      controlplane_args=controlplane_args, secure=secure)
    cluster.nodes = [cluster.node(i) for i in range(1, nodes + 1)]
    return cluster
