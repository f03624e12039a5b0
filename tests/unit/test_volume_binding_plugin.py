"""The VolumeBinding filter on a snapshot: where a pod's claims let it go, and kube-scheduler's
words when they let it go nowhere."""

from __future__ import annotations

from typing import Any

from controlplane.machinery import volumes as v
from controlplane.machinery.types import Obj
from controlplane.scheduler.framework import Profile, schedule
from controlplane.scheduler.plugins import volume_binding
from controlplane.scheduler.snapshot import PodInfo, Snapshot

WFFC = {"metadata": {"name": "local"}, "provisioner": v.LOCAL_PATH, "volumeBindingMode": v.WAIT_FOR_FIRST_CONSUMER}
NOW = {"metadata": {"name": "now"}, "provisioner": v.LOCAL_PATH, "volumeBindingMode": v.IMMEDIATE}
MANUAL = {"metadata": {"name": "manual"}, "provisioner": v.NO_PROVISIONER,
          "volumeBindingMode": v.WAIT_FOR_FIRST_CONSUMER}
GI = 2**30


class View:
    """A VolumeView over dictionaries."""

    def __init__(self, claims: list[Obj], pvs: list[Obj] = (), reserved: dict[str, int] | None = None) -> None:
        self.claims = {c["metadata"]["name"]: c for c in claims}
        self.pvs = {p["metadata"]["name"]: p for p in pvs}
        self.classes = {c["metadata"]["name"]: c for c in (WFFC, NOW, MANUAL)}
        self.reserved = reserved or {}

    def claim(self, namespace: str, name: str) -> Obj | None:
        return self.claims.get(name)

    def volume(self, name: str) -> Obj | None:
        return self.pvs.get(name)

    def storage_class(self, name: str) -> Obj | None:
        return self.classes.get(name)

    def volumes(self) -> list[Obj]:
        return list(self.pvs.values())

    def selected_node(self, claim: Obj) -> str:
        return v.selected_node(claim)

    def reserved_bytes(self, besides: frozenset[str]) -> dict[str, int]:
        return self.reserved


def node(name: str, capacity: int | None) -> Obj:
    ann = {} if capacity is None else {v.NODE_VOLUME_DIR: "/v", v.NODE_VOLUME_CAPACITY: str(capacity)}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}, "annotations": ann},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def claim(name: str, size: str = "1Gi", cls: str = "local", **extra: Any) -> Obj:
    md = {"name": name, "namespace": "default", "uid": f"uid-{name}", "annotations": extra.pop("annotations", {})}
    return {"metadata": md, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                                     "resources": {"requests": {"storage": size}}, **extra}}


def local_pv(name: str, node_name: str, size: str = "1Gi", **extra: Any) -> Obj:
    return {"metadata": {"name": name, "annotations": {v.PROVISIONED_BY: v.LOCAL_PATH}},
            "status": {"phase": extra.pop("phase", "Bound")},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                     "nodeAffinity": v.hostname_affinity(node_name), **extra}}


def place(view: View, *claims: str, nodes: tuple[Obj, ...] = ()) -> tuple[str | None, str]:
    """Where a pod using `claims` (default: the claim "d") goes, and why not when nowhere."""
    claims = claims or ("d",)
    nodes = nodes or (node("a", 2 * GI), node("b", 10 * GI), node("c", None))
    snap = Snapshot.build(nodes)
    snap.volumes = view
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c"}],
                    "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                                for i, c in enumerate(claims)]}}
    decision = schedule(PodInfo.from_pod(pod), snap, Profile([volume_binding.PLUGIN], []))
    return decision.node, decision.message if decision.node is None else ""


def test_room_in_local_storage_decides_where_a_waiting_claim_can_go() -> None:
    assert place(View([claim("d", "5Gi")])) == ("b", "")
    assert place(View([claim("d", "50Gi")])) == (
        None, "0/3 nodes are available: 3 node(s) did not have enough free storage.")
    # Volumes already on b, and claims promised to b, take its room.
    used = View([claim("d", "5Gi")], [local_pv("old", "b", "6Gi")])
    assert place(used)[0] is None
    assert place(View([claim("d", "1Gi")], reserved={"a": 2 * GI}))[0] == "b"
    # Two claims of one pod need room for both on the same node.
    assert place(View([claim("x", "1500Mi"), claim("y", "1500Mi")]), "x", "y")[0] == "b"


def test_bound_and_promised_claims_pin_the_pod() -> None:
    bound = claim("d", volumeName="pv-a")
    assert place(View([bound], [local_pv("pv-a", "a")])) == ("a", "")
    assert place(View([bound], [local_pv("pv-a", "a")]), nodes=(node("b", GI),)) == (
        None, "0/1 nodes are available: 1 node(s) had volume node affinity conflict.")
    promised = claim("d", annotations={v.SELECTED_NODE: "c"})
    assert place(View([promised])) == ("c", "")  # room was counted when it was promised


def test_claims_no_node_can_help() -> None:
    assert place(View([])) == (None, '0/3 nodes are available: 3 persistentvolumeclaim "d" not found.')
    gone = claim("d")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert place(View([gone]))[1] == '0/3 nodes are available: 3 persistentvolumeclaim "d" is being deleted.'
    assert place(View([claim("d", cls="now")]))[1] == \
        "0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims."
    assert place(View([claim("d", volumeName="missing")]))[1] == (
        "0/3 nodes are available: 3 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s).")
    assert place(View([claim("d", cls="manual")]))[1] == \
        "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind."


def test_a_static_volume_a_node_may_use_serves_a_class_without_provisioner() -> None:
    static = local_pv("disk", "c", "4Gi", phase="Available", storageClassName="manual")
    static["metadata"]["annotations"] = {}
    assert place(View([claim("d", cls="manual")], [static])) == ("c", "")


def test_without_a_view_or_claims_the_filter_says_nothing() -> None:
    snap = Snapshot.build([node("a", None)])
    pod = PodInfo.from_pod({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "volumes": [
        {"name": "v", "persistentVolumeClaim": {"claimName": "d"}}]}})
    assert volume_binding.prepare(pod, snap) is None  # no storage view: not checked (plans, tests)
    snap.volumes = View([])
    plain = PodInfo.from_pod({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})
    assert volume_binding.prepare(plain, snap) is None


def test_a_read_write_once_pod_claim_serves_one_pod_at_a_time() -> None:
    from controlplane.scheduler.plugins import volume_restrictions

    exclusive = claim("solo", accessModes=["ReadWriteOncePod"], volumeName="pv-a")
    view = View([exclusive, claim("shared", volumeName="pv-a")], [local_pv("pv-a", "a")])

    def using(name: str, claim_name: str, node: str) -> Obj:
        return {"metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": node, "containers": [{"name": "c"}],
                         "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]}}

    def fits(claim_name: str, existing: list[Obj]) -> str:
        snap = Snapshot.build([node("a", GI), node("b", GI)], existing)
        snap.volumes = view
        pod = PodInfo.from_pod(using("new", claim_name, ""))
        decision = schedule(pod, snap, Profile([volume_restrictions.PLUGIN], []))
        return decision.node or decision.message

    assert fits("solo", []) in ("a", "b")
    assert fits("solo", [using("first", "solo", "a")]) == (
        "0/2 nodes are available: 2 node has pod using PersistentVolumeClaim with the same name and "
        "ReadWriteOncePod access mode.")
    assert fits("shared", [using("first", "shared", "a")]) in ("a", "b")  # ReadWriteOnce: shared on a node
