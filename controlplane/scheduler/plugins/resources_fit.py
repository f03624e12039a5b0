"""NodeResourcesFit: the pod's requests must fit in the node's allocatable minus what the
pods already there (bound or assumed) request. Every shortfall is a reason of its own:
"Too many pods", "Insufficient cpu", "Insufficient memory", "Insufficient <resource>"."""

from __future__ import annotations

from ..framework import FilterPlugin, NodeCheck, Status, unschedulable
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "NodeResourcesFit"
TOO_MANY_PODS = "Too many pods"


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck:
    # cpu and memory first: the order of reasons within one node's status is stable.
    wanted = sorted(pod.requests.items(), key=lambda kv: ({"cpu": 0, "memory": 1}.get(kv[0], 2), kv[0]))

    def reasons(node: NodeInfo) -> Status:
        alloc, used = node.allocatable, node.requested
        out = [TOO_MANY_PODS] if len(node.pods) >= alloc.get("pods", 0) else []
        out += [f"Insufficient {name}" for name, amount in wanted if amount > alloc.get(name, 0) - used.get(name, 0)]
        return unschedulable(NAME, *out)

    def check(node: NodeInfo) -> Status | None:
        # The common case -- it fits -- allocates nothing; reasons are worked out only on failure.
        alloc, used = node.allocatable, node.requested
        if len(node.pods) < alloc.get("pods", 0):
            for name, amount in wanted:
                if amount > alloc.get(name, 0) - used.get(name, 0):
                    return reasons(node)
            return None
        return reasons(node)

    return check


PLUGIN = FilterPlugin(NAME, prepare)
