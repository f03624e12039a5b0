"""NodeUnschedulable: a cordoned node (spec.unschedulable) takes no new pods, unless the pod
tolerates the node.kubernetes.io/unschedulable:NoSchedule taint (as DaemonSet pods do)."""

from __future__ import annotations

from ..findings import Finding, NodeExplain
from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .tolerations import tolerated

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_FAIL = unresolvable(NAME, REASON)


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | None:
    if tolerated(pod.tolerations, TAINT):
        return None

    def check(node: NodeInfo) -> Status | None:
        return _FAIL if node.unschedulable else None

    return check


_CORDONED = (Finding(NAME, REASON, "node is cordoned (spec.unschedulable)"),)


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain | None:
    if tolerated(pod.tolerations, TAINT):
        return None
    return lambda node: _CORDONED if node.unschedulable else ()


PLUGIN = FilterPlugin(NAME, prepare, explain)
