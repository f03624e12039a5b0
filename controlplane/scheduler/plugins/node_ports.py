"""NodePorts: two pods cannot hold the same hostPort/protocol on one node, unless they bind
different specific host IPs (0.0.0.0, the default, conflicts with every IP)."""

from __future__ import annotations

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
        for ip, proto, port in wanted:
            if ip == WILDCARD_IP:
                if node.used_port_any_ip[(proto, port)] > 0:
                    return _FAIL
            elif node.used_ports[(ip, proto, port)] > 0 or node.used_ports[(WILDCARD_IP, proto, port)] > 0:
                return _FAIL
        return None

    return check


PLUGIN = FilterPlugin(NAME, prepare)
