"""SelectorSpread: prefer the node running the fewest replicas of the pod's workload (pods
with the same controller ownerReference, or for bare pods the same labels). The count per
node is kept in NodeInfo.workloads, so scoring is one dict lookup per node."""

from __future__ import annotations

from ..framework import NodeScore, ScorePlugin
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .normalize import fewest_best

NAME = "SelectorSpread"


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeScore | None:
    workload = pod.workload
    if workload is None:
        return None

    def count(node: NodeInfo) -> float:
        return node.workloads.get(workload, 0)

    return count


# Weighted above least-allocated (as upstream weights topology spreading 2:1), so replicas
# spread even when the nodes are of different sizes.
PLUGIN = ScorePlugin(NAME, 2, prepare, fewest_best)
