"""VolumeBinding: the pod's PersistentVolumeClaims must be usable on the node.

Reasons as kube-scheduler's VolumeBinding plugin words them. A missing claim, one being
deleted, or an unbound claim of an Immediate class fails the pod everywhere. A bound claim's
volume must allow the node (its nodeAffinity: a local volume pins the pod to its node). An
unbound WaitForFirstConsumer claim needs, on this node, a matching Available volume the node may
use, or a provisioner that can make one there: for the built-in local provisioner, room left
in the node's local storage (its capacity, minus the local volumes on it and the claims already
promised to it). A claim already promised to a node keeps the pod to that node.
"""

from __future__ import annotations

from collections import Counter

from ...machinery import volumes as v
from ...machinery.types import Obj
from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "VolumeBinding"
IMMEDIATE_UNBOUND = "pod has unbound immediate PersistentVolumeClaims"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
NOT_ENOUGH_SPACE = "node(s) did not have enough free storage"
PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
SELECTED_ELSEWHERE = "node(s) didn't match the node selected for the pod's PersistentVolumeClaims"


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | Status | None:
    view = snapshot.volumes
    names = v.claim_names(pod.obj)
    if view is None or not names:
        return None
    bound: list[Obj] = []
    waiting: list[tuple[Obj, Obj]] = []  # (claim, its class)
    for name in names:
        pvc = view.claim(pod.namespace, name)
        if pvc is None:
            return unresolvable(NAME, f'persistentvolumeclaim "{name}" not found')
        if (pvc.get("metadata") or {}).get("deletionTimestamp"):
            return unresolvable(NAME, f'persistentvolumeclaim "{name}" is being deleted')
        volume_name = (pvc.get("spec") or {}).get("volumeName")
        if volume_name:
            pv = view.volume(volume_name)
            if pv is None:
                return unresolvable(NAME, PV_NOT_EXIST)
            bound.append(pv)
            continue
        sc = view.storage_class(v.class_of(pvc))
        if sc is None or v.binding_mode(sc) != v.WAIT_FOR_FIRST_CONSUMER:
            return unresolvable(NAME, IMMEDIATE_UNBOUND)
        waiting.append((pvc, sc))
    own = frozenset(v.key_of(pvc) for pvc, _ in waiting)
    volumes = view.volumes() if waiting else []
    used: Counter[str] = Counter()
    for pv in volumes:
        used[v.local_volume_on(pv)] += v.capacity_bytes(pv)
    reserved = view.reserved_bytes(own) if waiting else {}
    conflict, no_volume, no_room = (unresolvable(NAME, r) for r in (NODE_CONFLICT, BIND_CONFLICT, NOT_ENOUGH_SPACE))
    elsewhere = unresolvable(NAME, SELECTED_ELSEWHERE)

    def check(node: NodeInfo) -> Status | None:
        for pv in bound:
            if not v.node_allows(pv, node.labels, node.name):
                return conflict
        local = 0
        for pvc, sc in waiting:
            selected = view.selected_node(pvc)
            if selected:
                if selected != node.name:
                    return elsewhere
                continue  # promised to this node: its room was counted then
            if v.best_volume(volumes, pvc, node=(node.labels, node.name)) is not None:
                continue
            provisioner = sc.get("provisioner")
            if not provisioner or provisioner == v.NO_PROVISIONER:
                return no_volume
            if node.node is None or not v.topology_allows(sc, node.node):
                return conflict
            if provisioner == v.LOCAL_PATH:
                local += v.requested_bytes(pvc)
        if local:
            capacity = v.node_volume_capacity(node.node)
            if capacity is None:
                return no_room
            free = capacity - used[node.name] - reserved.get(node.name, 0)
            if free < local:
                return no_room
        return None

    return check


PLUGIN = FilterPlugin(NAME, prepare)
