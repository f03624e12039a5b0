"""TaintToleration (score): among nodes that fit, prefer those with fewer PreferNoSchedule
taints the pod does not tolerate -- the soft form of a taint."""

from __future__ import annotations

from ..framework import NodeScore, ScorePlugin
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .normalize import fewest_best
from .tolerations import tolerated

NAME = "TaintPreference"


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeScore:
    # Only tolerations that could apply to a soft taint matter (upstream filters the same way).
    tolerations = [t for t in pod.tolerations if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"]

    def count(node: NodeInfo) -> float:
        return sum(1 for t in node.taints
                   if t.get("effect") == "PreferNoSchedule" and not tolerated(tolerations, t))

    return count


PLUGIN = ScorePlugin(NAME, 3, prepare, fewest_best)  # upstream weighs it 3
