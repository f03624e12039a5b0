"""SelectorSpread: prefer the node running the fewest replicas of the pod's workload (pods
with the same controller ownerReference, or for bare pods the same labels). The count per
node is kept in NodeInfo.workloads, so scoring is one dict lookup per node."""

from __future__ import annotations

from ..framework import NodeScore, ScorePlugin
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "SelectorSpread"
MAX_SCORE = 100


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeScore | None:
    workload = pod.workload
    if workload is None:
        return None

    def count(node: NodeInfo) -> float:
        return node.workloads.get(workload, 0)

    return count


def normalize(counts: list[float]) -> list[float]:
    """Fewest replicas -> 100, most -> 0."""
    most = max(counts)
    if most <= 0:
        return [MAX_SCORE] * len(counts)
    return [MAX_SCORE * (most - c) / most for c in counts]


# Weighted above least-allocated (as upstream weights topology spreading 2:1), so replicas
# spread even when the nodes are of different sizes.
PLUGIN = ScorePlugin(NAME, 2, prepare, normalize)
