"""TaintToleration: a node's NoSchedule and NoExecute taints keep out pods that do not
tolerate them; the reason names the first untolerated taint. (PreferNoSchedule only
affects scoring upstream and is ignored here.)"""

from __future__ import annotations

from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .tolerations import taint_reason, tolerated

NAME = "TaintToleration"
_EFFECTS = ("NoSchedule", "NoExecute")


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | None:
    tolerations = pod.tolerations

    def check(node: NodeInfo) -> Status | None:
        for taint in node.taints:
            if taint.get("effect") in _EFFECTS and not tolerated(tolerations, taint):
                return unresolvable(NAME, taint_reason(taint))
        return None

    return check


PLUGIN = FilterPlugin(NAME, prepare)
