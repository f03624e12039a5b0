"""NodeResourcesFit: the pod's requests must fit in the node's allocatable minus what the
pods already there (bound or assumed) request. Every shortfall is a reason of its own:
"Too many pods", "Insufficient cpu", "Insufficient memory", "Insufficient <resource>".
The explanation gives the numbers (requested, free, allocatable) and the request that would
fit the node."""

from __future__ import annotations

from ..findings import FREE, Finding, NodeExplain, amount
from ..framework import FilterPlugin, NodeCheck, Status, unschedulable
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "NodeResourcesFit"
TOO_MANY_PODS = "Too many pods"


def _wanted(pod: PodInfo) -> list[tuple[str, int]]:
    # cpu and memory first: the order of reasons within one node's status is stable.
    return sorted(pod.requests.items(), key=lambda kv: ({"cpu": 0, "memory": 1}.get(kv[0], 2), kv[0]))


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck:
    wanted = _wanted(pod)

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


def shortfall(name: str, requested: int, allocatable: int, free: int) -> Finding:
    """`memory: requests 100Ti > allocatable 7.6Gi` when no node of this size could hold it,
    else `memory: requests 2Gi > free {free} of allocatable 7.6Gi`; the fix names the most
    that fits here."""
    wants = amount(name, requested)
    if requested > allocatable:
        detail = f"{name}: requests {wants} > allocatable {amount(name, allocatable)}"
    else:
        detail = f"{name}: requests {wants} > free {FREE} of allocatable {amount(name, allocatable)}"
    fix = f"lower the {name} request to {FREE} (from {wants})" if free > 0 else ""
    return Finding(NAME, f"Insufficient {name}", detail, fix, name, max(free, 0), requested)


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain:
    wanted = _wanted(pod)
    # Nodes of one size with as much free share one Finding: worded once, not per node.
    seen: dict[tuple[str, int, int], Finding] = {}

    def findings(node: NodeInfo) -> list[Finding]:
        alloc, used = node.allocatable, node.requested
        out = []
        max_pods = alloc.get("pods", 0)
        if len(node.pods) >= max_pods:
            out.append(Finding(NAME, TOO_MANY_PODS, f"pods: {len(node.pods)} of {max_pods} in use"))
        for name, requested in wanted:
            allocatable = alloc.get(name, 0)
            free = allocatable - used.get(name, 0)
            if requested > free:
                key = (name, allocatable, free)
                found = seen.get(key)
                if found is None:
                    found = seen[key] = shortfall(name, requested, allocatable, free)
                out.append(found)
        return out

    return findings


PLUGIN = FilterPlugin(NAME, prepare, explain)
