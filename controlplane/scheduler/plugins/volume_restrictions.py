"""VolumeRestrictions: a ReadWriteOncePod claim is used by one pod at a time, cluster-wide.

A pod naming a claim whose access modes include ReadWriteOncePod fits nowhere while another
pod (bound or assumed on any node) uses that claim, as kube-scheduler's VolumeRestrictions
plugin decides it; it is tried again when that pod goes.
"""

from __future__ import annotations

from ...machinery import volumes as v
from ..framework import FilterPlugin, Status, unresolvable
from ..snapshot import PodInfo, Snapshot

NAME = "VolumeRestrictions"
RWOP_CONFLICT = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"


def prepare(pod: PodInfo, snapshot: Snapshot) -> Status | None:
    view = snapshot.volumes
    if view is None:
        return None
    exclusive = set()
    for name in v.claim_names(pod.obj):
        pvc = view.claim(pod.namespace, name)
        if pvc is not None and "ReadWriteOncePod" in ((pvc.get("spec") or {}).get("accessModes") or []):
            exclusive.add(name)
    if not exclusive:
        return None
    for node in snapshot.nodes.values():
        for other in node.pods.values():
            if other.key != pod.key and other.namespace == pod.namespace \
                    and exclusive & set(v.claim_names(other.obj)):
                return unresolvable(NAME, RWOP_CONFLICT)
    return None


PLUGIN = FilterPlugin(NAME, prepare)
