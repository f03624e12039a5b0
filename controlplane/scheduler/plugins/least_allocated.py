"""NodeResourcesLeastAllocated: prefer the node with the most free cpu and memory after
placing the pod, each resource scored (free / allocatable) * 100 and averaged. Pods that
request nothing count as 100m / 200Mi, so best-effort pods spread too."""

from __future__ import annotations

from ..framework import MAX_SCORE, NodeScore, ScorePlugin
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "NodeResourcesLeastAllocated"


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeScore:
    cpu, memory = pod.nonzero_cpu, pod.nonzero_memory

    def score(node: NodeInfo) -> float:
        alloc = node.allocatable
        total = 0
        for requested, allocatable in ((node.nonzero_cpu + cpu, alloc.get("cpu", 0)),
                                       (node.nonzero_memory + memory, alloc.get("memory", 0))):
            if 0 < allocatable and requested <= allocatable:
                total += (allocatable - requested) * MAX_SCORE // allocatable
        return total // 2

    return score


PLUGIN = ScorePlugin(NAME, 1, prepare)
