"""NodeReady: a node whose Ready condition is not True takes no new pods.

Kubernetes expresses this as the node.kubernetes.io/not-ready (Ready=False) and
node.kubernetes.io/unreachable (Ready=Unknown) NoSchedule taints, which the node lifecycle
controller adds; here the filter derives them from the condition directly, so the reason
reads the same as upstream and pods that tolerate those taints still fit.
"""

from __future__ import annotations

from ..findings import Finding, NodeExplain
from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .tolerations import taint_reason, tolerated

NAME = "NodeReady"
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | None:
    failures = {ready: unresolvable(NAME, taint_reason(taint))
                for ready, taint in (("False", NOT_READY), ("Unknown", UNREACHABLE))
                if not tolerated(pod.tolerations, taint)}
    if not failures:
        return None

    def check(node: NodeInfo) -> Status | None:
        return None if node.ready == "True" else failures.get(node.ready, failures.get("Unknown"))

    return check


_STATES = {"False": "node is NotReady (Ready=False)", "Unknown": "node is unreachable (Ready=Unknown)"}


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain | None:
    check = prepare(pod, snapshot)
    if check is None:
        return None

    def findings(node: NodeInfo) -> tuple[Finding, ...]:
        status = check(node)
        if status is None:
            return ()
        state = _STATES.get(node.ready, f"node is not Ready (Ready={node.ready})")
        return (Finding(NAME, status.reasons[0], state),)

    return findings


PLUGIN = FilterPlugin(NAME, prepare, explain)
