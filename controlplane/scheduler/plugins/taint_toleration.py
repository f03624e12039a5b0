"""TaintToleration: a node's NoSchedule and NoExecute taints keep out pods that do not
tolerate them; the reason names the first untolerated taint, the explanation every one (and
the toleration that would admit the pod). PreferNoSchedule only affects scoring
(taint_preference.py)."""

from __future__ import annotations

from ...machinery.types import Obj
from ..findings import Finding, NodeExplain
from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .tolerations import taint_reason, taint_text, tolerated

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


def finding(taint: Obj) -> Finding:
    text = taint_text(taint)
    return Finding(NAME, taint_reason(taint), f"taint {text} not tolerated", f"add a toleration for {text}")


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain:
    tolerations = pod.tolerations

    def findings(node: NodeInfo) -> list[Finding]:
        return [finding(t) for t in node.taints
                if t.get("effect") in _EFFECTS and not tolerated(tolerations, t)]

    return findings


PLUGIN = FilterPlugin(NAME, prepare, explain)
