"""NodePorts: two pods cannot hold the same hostPort/protocol on one node, unless they bind
different specific host IPs (0.0.0.0, the default, conflicts with every IP)."""

from __future__ import annotations

from ..findings import Finding, NodeExplain
from ..framework import FilterPlugin, NodeCheck, Status, unschedulable
from ..snapshot import WILDCARD_IP, NodeInfo, PodInfo, Snapshot

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"
_FAIL = unschedulable(NAME, REASON)


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | None:
    wanted = pod.host_ports
    if not wanted:
        return None

    def check(node: NodeInfo) -> Status | None:
        return _FAIL if any(_taken(node, *w) for w in wanted) else None

    return check


def _taken(node: NodeInfo, ip: str, proto: str, port: int) -> bool:
    if ip == WILDCARD_IP:
        return node.used_port_any_ip[(proto, port)] > 0
    return node.used_ports[(ip, proto, port)] > 0 or node.used_ports[(WILDCARD_IP, proto, port)] > 0


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain | None:
    wanted = pod.host_ports
    if not wanted:
        return None
    found = {(ip, proto, port): Finding(
        NAME, REASON, f"hostPort {port}/{proto}{'' if ip == WILDCARD_IP else ' on ' + ip} already in use",
        f"use another hostPort than {port}/{proto}") for ip, proto, port in wanted}
    return lambda node: [found[w] for w in wanted if _taken(node, *w)]


PLUGIN = FilterPlugin(NAME, prepare, explain)
