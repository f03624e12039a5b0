"""The host side of a local cluster's network, created and removed by name only.

    bridge pyc-NAME  172.30.N.1/24   the control plane's gateway and the registry listen here
      ├─ veth pyvN-1 ── eth0 172.30.N.11 in netns pyctl-NAME-node-1 (the agent runs in it)
      └─ veth pyvN-2 ── eth0 172.30.N.12 in netns pyctl-NAME-node-2
    blackhole 10.244.0.0/16          pod traffic that reaches the host goes nowhere
    blackhole 10.96.0.0/16           and so does Service (ClusterIP) traffic

A node netns has no default route: nothing in it can reach beyond the bridge. The agent's
CNI bridge (`pyctl0`) and the ip_forward it needs live inside the node netns, so the host's
sysctls are never touched. With br_netfilter loaded, bridged frames cross the host's
iptables FORWARD chain; if that chain could drop them we add one ACCEPT rule for our
bridge, and `down` deletes exactly that rule.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from agent.network.netns import is_mountpoint

from ..errors import CommandError
from . import state
from .state import Cluster, Node

NETNS_DIR = Path("/run/netns")
# `ip netns add` makes /run/netns a (shared) bind mount the first time and never undoes it;
# this marker says we did, so the last `down` can leave the host as it found it.
_NETNS_MARKER = ".netns-dir-made"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise CommandError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


def _link_exists(name: str, netns: str | None = None) -> bool:
    ns = ["-n", netns] if netns else []
    return ip(*ns, "link", "show", "dev", name, check=False).returncode == 0


def _netns_exists(name: str) -> bool:
    return name in ip("netns", "list").stdout.split()


def _forward_rule(c: Cluster) -> list[str]:
    return ["FORWARD", "-i", c.bridge, "-o", c.bridge, "-m", "comment", "--comment",
            f"pyctl cluster {c.name}", "-j", "ACCEPT"]


def _forward_may_drop() -> bool:
    """Bridged traffic meets FORWARD only with br_netfilter on; ACCEPT policy and no rules is safe."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            if f.read().strip() != "1":
                return False
    except OSError:
        return False
    res = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True)
    return res.returncode != 0 or res.stdout.strip().splitlines() != ["-P FORWARD ACCEPT"]


def ensure_bridge(c: Cluster) -> None:
    if not _link_exists(c.bridge):
        ip("link", "add", c.bridge, "type", "bridge")
    if f" {c.host_ip}/" not in ip("-4", "-o", "addr", "show", "dev", c.bridge).stdout:
        ip("addr", "add", f"{c.host_ip}/{c.prefixlen}", "dev", c.bridge)
    ip("link", "set", c.bridge, "up")
    for cidr in (c.cluster_cidr, c.service_cidr):
        if ip("route", "show", "type", "blackhole", cidr).stdout.strip() == "":
            ip("route", "add", "blackhole", cidr)
    if not c.forward_rule and _forward_may_drop():
        subprocess.run(["iptables", "-I", *_forward_rule(c)], check=True, capture_output=True)
        c.forward_rule = True


def ensure_node(c: Cluster, n: Node) -> None:
    if not _netns_exists(n.netns):
        ip("netns", "add", n.netns)
    if not _link_exists("eth0", n.netns):
        if _link_exists(n.veth):  # a half-made pair from an interrupted up
            ip("link", "del", n.veth)
        ip("link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.netns)
    ip("link", "set", n.veth, "master", c.bridge, "up")
    ip("-n", n.netns, "link", "set", "lo", "up")
    if f" {n.ip}/" not in ip("-n", n.netns, "-4", "-o", "addr", "show", "dev", "eth0").stdout:
        ip("-n", n.netns, "addr", "add", f"{n.ip}/{c.prefixlen}", "dev", "eth0")
    ip("-n", n.netns, "link", "set", "eth0", "up")


def remove_node(n: Node) -> None:
    """Deleting the netns deletes everything in it (CNI bridge, pod veths) and our veth pair."""
    if _netns_exists(n.netns):
        ip("netns", "del", n.netns)
    if _link_exists(n.veth):
        ip("link", "del", n.veth, check=False)


def remove_bridge(c: Cluster) -> None:
    if c.forward_rule:
        subprocess.run(["iptables", "-D", *_forward_rule(c)], capture_output=True)
        c.forward_rule = False
    for cidr in (c.cluster_cidr, c.service_cidr):
        if ip("route", "show", "type", "blackhole", cidr).stdout.strip():
            ip("route", "del", "blackhole", cidr, check=False)
    if _link_exists(c.bridge):
        ip("link", "del", c.bridge)


def mark_netns_dir() -> None:
    """Call before creating a netns, under `state.locked()`."""
    marker = state.ROOT / _NETNS_MARKER
    if not marker.exists() and not is_mountpoint(NETNS_DIR):
        marker.write_text("existed\n" if NETNS_DIR.exists() else "made\n")


def unmark_netns_dir() -> None:
    """Once no cluster is left and no netns at all remains, undo what `ip netns add` did."""
    marker = state.ROOT / _NETNS_MARKER
    if not marker.exists() or state.all_clusters():
        return
    if NETNS_DIR.is_dir() and any(NETNS_DIR.iterdir()):
        return  # someone else's namespaces live there now: leave the mount to them
    if is_mountpoint(NETNS_DIR):
        subprocess.run(["umount", str(NETNS_DIR)], capture_output=True)
    if marker.read_text().strip() == "made" and not is_mountpoint(NETNS_DIR):
        try:
            NETNS_DIR.rmdir()
        except OSError:
            pass
    marker.unlink()


def nsenter(n: Node) -> list[str]:
    """The prefix that runs a command in the node's netns. Not `ip netns exec`: it remounts
    /sys, hiding the cgroup v1 mounts runc needs (DESIGN §5)."""
    return ["nsenter", f"--net=/run/netns/{n.netns}", "--"]
