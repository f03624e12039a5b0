"""NodeName: a pod that names a node in spec.nodeName fits only there. (The scheduler only
sees pods without one; the filter keeps the decision function correct on its own.)"""

from __future__ import annotations

from ..findings import Finding, NodeExplain
from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"
_FAIL = unresolvable(NAME, REASON)


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | None:
    wanted = pod.node_name
    if not wanted:
        return None

    def check(node: NodeInfo) -> Status | None:
        return None if node.name == wanted else _FAIL

    return check


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain | None:
    wanted = pod.node_name
    if not wanted:
        return None
    other = (Finding(NAME, REASON, f"spec.nodeName is {wanted}"),)
    return lambda node: () if node.name == wanted else other


PLUGIN = FilterPlugin(NAME, prepare, explain)
