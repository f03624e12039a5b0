"""Which volume a claim binds, which node may use a volume, and when a local volume's data may
go: the pure rules of controlplane/machinery/volumes.py (kube's FindMatchingVolume and friends)."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.machinery import volumes as v


def pv(name: str, size: str = "1Gi", phase: str = "Available", **spec: Any) -> dict[str, Any]:
    meta = {"name": name, "labels": spec.pop("labels", {}), **spec.pop("meta", {})}
    return {"metadata": meta, "status": {"phase": phase},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                     "volumeMode": "Filesystem", **spec}}


def pvc(name: str = "c", size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": "u-1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                     "storageClassName": "", "volumeMode": "Filesystem", **spec}}


def test_the_smallest_available_volume_that_serves_the_claim() -> None:
    volumes = [pv("big", "10Gi"), pv("small", "1Gi"), pv("fit", "2Gi"), pv("fit-bigger", "3Gi")]
    assert v.best_volume(volumes, pvc(size="1500Mi"))["metadata"]["name"] == "fit"
    assert v.best_volume(volumes, pvc(size="11Gi")) is None


@pytest.mark.parametrize("volume,why", [
    (pv("x", meta={"deletionTimestamp": "2026-01-01T00:00:00Z"}), "being deleted"),
    (pv("x", claimRef={"namespace": "ns", "name": "other"}), "bound to another claim"),
    (pv("x", "500Mi"), "too small"),
    (pv("x", volumeMode="Block"), "volumeMode differs"),
    (pv("x", storageClassName="fast"), "storage class differs"),
    (pv("x", accessModes=["ReadOnlyMany"]), "access modes differ"),
    (pv("x", labels={"tier": "slow"}), "labels do not match the selector"),
])
def test_what_keeps_a_volume_from_a_claim(volume: dict[str, Any], why: str) -> None:
    claim = pvc(selector={"matchLabels": {"tier": "fast"}}) if why.startswith("labels") else pvc()
    assert v.unsuitable(volume, claim) == why
    assert v.best_volume([volume], claim) is None


def test_a_volume_pre_bound_to_the_claim_wins_over_a_smaller_one_and_is_not_shared() -> None:
    claim = pvc()
    mine = pv("mine", "5Gi", phase="Available", claimRef={"namespace": "ns", "name": "c"})
    others = pv("others", "5Gi", claimRef={"namespace": "ns", "name": "c", "uid": "u-other"})
    assert v.best_volume([pv("smaller"), mine], claim)["metadata"]["name"] == "mine"
    assert v.bound_to(mine, claim) and not v.bound_to(others, claim)  # a uid pins it to one claim
    assert v.best_volume([others], claim) is None
    assert v.best_volume([pv("bound-elsewhere", phase="Bound")], claim) is None


def test_the_beta_class_annotation_wins_and_the_newest_default_class_is_the_default() -> None:
    claim = pvc(storageClassName="spec-class")
    claim["metadata"]["annotations"] = {v.BETA_CLASS: "beta-class"}
    assert v.class_of(claim) == "beta-class"
    older = {"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z",
                          "annotations": {v.DEFAULT_CLASS: "true"}}}
    newer = {"metadata": {"name": "b", "creationTimestamp": "2026-02-01T00:00:00Z",
                          "annotations": {v.BETA_DEFAULT_CLASS: "true"}}}
    plain = {"metadata": {"name": "c", "creationTimestamp": "2026-03-01T00:00:00Z"}}
    assert v.default_class([older, newer, plain])["metadata"]["name"] == "b"
    assert v.default_class([plain]) is None


def affinity(*terms: list[dict[str, Any]], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = [{"matchExpressions": t} for t in terms]
    if fields:
        out.append({"matchFields": fields})
    return {"required": {"nodeSelectorTerms": out}}


def test_node_affinity_of_a_volume() -> None:
    labels = {"kubernetes.io/hostname": "n1", "zone": "a", "disks": "4"}
    one = pv("x", nodeAffinity=affinity([{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                         {"key": "disks", "operator": "Gt", "values": ["3"]}]))
    assert v.node_allows(one, labels, "n1")
    assert not v.node_allows(one, {**labels, "disks": "2"}, "n1")
    either = pv("x", nodeAffinity=affinity([{"key": "zone", "operator": "NotIn", "values": ["a"]}],
                                           [{"key": "ssd", "operator": "Exists"}]))
    assert not v.node_allows(either, labels, "n1") and v.node_allows(either, {**labels, "ssd": ""}, "n1")
    by_name = pv("x", nodeAffinity=affinity(fields=[{"key": "metadata.name", "operator": "In", "values": ["n2"]}]))
    assert v.node_allows(by_name, {}, "n2") and not v.node_allows(by_name, {}, "n1")
    assert v.node_allows(pv("anywhere"), {}, "n1")
    local = pv("x", nodeAffinity=v.hostname_affinity("n7"))
    assert v.pinned_node(local) == "n7" and v.node_allows(local, {"kubernetes.io/hostname": "n7"}, "n7")
    # The binder's choice for a node: only volumes that node may use.
    node = ({"kubernetes.io/hostname": "n1"}, "n1")
    assert v.best_volume([local], pvc(), node=node) is None
    assert v.best_volume([local, pv("free")], pvc(), node=node)["metadata"]["name"] == "free"


def local_pv(phase: str = "Released", policy: str = "Delete", finalizers: tuple[str, ...] = (),
             deleting: bool = True) -> dict[str, Any]:
    volume = pv("pvc-1", phase=phase, persistentVolumeReclaimPolicy=policy, nodeAffinity=v.hostname_affinity("n1"),
                meta={"annotations": {v.PROVISIONED_BY: v.LOCAL_PATH}, "finalizers": list(finalizers)})
    if deleting:
        volume["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return volume


@pytest.mark.parametrize("volume,deletable", [
    (local_pv(), True),
    (local_pv(deleting=False), False),                            # not being deleted
    (local_pv(policy="Retain"), False),                           # Retain keeps the data
    (local_pv(phase="Bound"), False),                             # still a claim's
    (local_pv(finalizers=(v.PV_PROTECTION,)), False),             # pv-protection not gone yet
    (local_pv(finalizers=(v.PROVISIONER_FINALIZER,)), True),      # only ours left
])
def test_when_a_local_volumes_data_may_be_deleted(volume: dict[str, Any], deletable: bool) -> None:
    assert v.local_data_deletable(volume) is deletable


def test_room_used_on_a_node_by_the_built_in_provisioners_volumes() -> None:
    ours = local_pv(deleting=False)
    static = pv("static", "5Gi", nodeAffinity=v.hostname_affinity("n1"))
    assert v.local_volume_on(ours) == "n1" and v.local_volume_on(static) == ""
    assert v.local_bytes_used("n1", [ours, static, local_pv(deleting=True)]) == 2 * 2**30
    node = {"metadata": {"annotations": {v.NODE_VOLUME_DIR: "/var/lib/v", v.NODE_VOLUME_CAPACITY: "1073741824"}}}
    assert v.node_volume_capacity(node) == 2**30
    assert v.node_volume_capacity({"metadata": {"annotations": {v.NODE_VOLUME_CAPACITY: "5"}}}) is None


def test_claims_a_pod_uses_and_classes_topologies() -> None:
    pod = {"metadata": {"name": "web-0"}, "spec": {"volumes": [
        {"name": "a", "persistentVolumeClaim": {"claimName": "data"}}, {"name": "b", "emptyDir": {}},
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]}}
    assert v.claim_names(pod) == ["data", "web-0-scratch"]
    sc = {"allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}]}
    assert v.topology_allows(sc, {"metadata": {"labels": {"zone": "a"}}})
    assert not v.topology_allows(sc, {"metadata": {"labels": {"zone": "b"}}})
    assert v.topology_allows({}, {"metadata": {}})
    assert v.access_modes_string(["ReadWriteOncePod", "ReadWriteOnce", "ReadOnlyMany"]) == "RWO,ROX,RWOP"


def test_what_a_protection_controller_writes() -> None:
    live = {"metadata": {"finalizers": ["other"]}}
    assert v.protection_finalizers(live, v.PVC_PROTECTION, lambda: True) == ["other", v.PVC_PROTECTION]
    assert v.protection_finalizers({"metadata": {"finalizers": [v.PVC_PROTECTION]}}, v.PVC_PROTECTION,
                                   lambda: False) is None
    deleting = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": [v.PVC_PROTECTION, "other"]}}
    assert v.protection_finalizers(deleting, v.PVC_PROTECTION, lambda: True) is None  # in use: it stays
    assert v.protection_finalizers(deleting, v.PVC_PROTECTION, lambda: False) == ["other"]
    asked = []
    gone = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert v.protection_finalizers(gone, v.PVC_PROTECTION, lambda: asked.append(1) or False) is None
    assert asked == []  # nothing to remove: no need to look for users
