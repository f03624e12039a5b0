"""Which nodes a DaemonSet runs a pod on: Kubernetes' DaemonSet node-eligibility rule.

A DaemonSet wants one pod on every node whose labels match its pod's nodeSelector and
required node affinity and whose NoSchedule/NoExecute taints (the node's spec.taints) its pod
tolerates, counting the tolerations the DaemonSet controller adds to every daemon pod
(`AddOrUpdateDaemonPodTolerations`). Each such pod is pinned to its node (a required
`metadata.name` node affinity term) and then goes through the scheduler's filters like any
pod, so it can still stay Pending there (not enough memory, a port taken). Not the scheduler's
spreading: placement is the rule's, the scheduler only admits. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from ..machinery.daemonpods import daemon_tolerations
from ..machinery.types import Obj
from . import verdict
from .findings import Finding
from .plugins import node_affinity, taint_toleration
from .snapshot import NodeInfo, PodInfo, Snapshot

def add_tolerations(spec: Obj) -> None:
    """Give a daemon pod's spec the tolerations the DaemonSet controller adds (in place)."""
    spec["tolerations"] = daemon_tolerations(spec)


def eligibility(pod: PodInfo, snapshot: Snapshot) -> Callable[[NodeInfo], tuple[Finding, ...]]:
    """Why the DaemonSet does not want its pod on a node (nothing: it does)."""
    explains = verdict.explainers(pod, snapshot, (node_affinity.PLUGIN, taint_toleration.PLUGIN))
    return lambda node: tuple(f for explain in explains for f in explain(node))


def pinned(pod: PodInfo, node: str) -> PodInfo:
    """The daemon pod for `node`: its required node affinity replaced by that node's name, as
    the DaemonSet controller does (the nodeSelector stays)."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    return dataclasses.replace(pod, node_affinity=(term,), key=f"{pod.key}@{node}")
