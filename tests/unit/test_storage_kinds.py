"""PersistentVolumes, claims and StorageClasses as kube-apiserver defaults, validates and prints
them: causes with Kubernetes' field paths and words, what may change after create, the cells
`kubectl get pv,pvc,sc` shows."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from controlplane.resources import registry
from controlplane.resources.checks import apply_defaults, validate
from controlplane.resources.tables import table

NOW = dt.datetime(2026, 11, 26, 22, 0, 0, tzinfo=dt.timezone.utc)


def pv(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "vol"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "hostPath": {"path": "/srv/v"}, **spec}}


def pvc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def sc(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
            "provisioner": "example.com/disk", **fields}


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    apply_defaults(obj)
    return obj


def causes(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in validate(defaulted(obj), defaulted(old) if old else None)]


def test_defaults() -> None:
    v = defaulted(pv())
    assert v["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and v["spec"]["volumeMode"] == "Filesystem"
    assert v["spec"]["hostPath"]["type"] == "" and v["status"] == {"phase": "Pending"}
    c = defaulted(pvc())
    assert c["spec"]["volumeMode"] == "Filesystem" and c["status"] == {"phase": "Pending"}
    assert "storageClassName" not in c["spec"]  # admission's to fill (DefaultStorageClass), not defaulting's
    s = defaulted(sc())
    assert (s["reclaimPolicy"], s["volumeBindingMode"]) == ("Delete", "Immediate")
    assert causes(pv()) == causes(pvc()) == causes(sc()) == []


@pytest.mark.parametrize("spec,expected", [
    ({"accessModes": []}, [("spec.accessModes", "Required value")]),
    ({"accessModes": ["ReadWriteOncePod", "ReadWriteOnce"]},
     [("spec.accessModes", "Forbidden: may not use ReadWriteOncePod with other access modes")]),
    ({"capacity": {"storage": "0"}}, [("spec.capacity[storage]", 'Invalid value: "0": must be greater than zero')]),
    ({"capacity": {}}, [("spec.capacity", "Required value"),
                        ("spec.capacity", 'Unsupported value: core.ResourceList{}: supported values: "storage"')]),
    ({"persistentVolumeReclaimPolicy": "Keep"}, [("spec.persistentVolumeReclaimPolicy",
      'Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"')]),
    ({"hostPath": None}, [("spec", "Required value: must specify a volume type")]),
    ({"local": {"path": "/mnt/disk"}}, [("spec.local", "Forbidden: may not specify more than 1 volume type")]),
    ({"hostPath": {"path": "/a/../etc"}}, [("spec.hostPath.path", "Invalid value: \"/a/../etc\": must not contain '..'")]),
    ({"volumeMode": "Raw"}, [("spec.volumeMode", 'Unsupported value: "Raw": supported values: "Block", "Filesystem"')]),
    ({"storageClassName": "Fast_Disk"}, [("spec.storageClassName", 'Invalid value: "Fast_Disk": a lowercase RFC 1123 '
      "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'example.com', regex used for validation is "
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]),
])
def test_volume_rules(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert causes(pv(**spec)) == expected


def test_a_local_volume_needs_node_affinity_and_its_source_never_changes() -> None:
    local = pv(hostPath=None, local={"path": "/mnt/disks/a"})
    assert causes(local) == [("spec.nodeAffinity", "Required value: Local volume requires node affinity")]
    pinned = pv(hostPath=None, local={"path": "/mnt/disks/a"}, nodeAffinity={"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}})
    assert causes(pinned) == []
    moved = copy.deepcopy(pinned)
    moved["spec"]["local"]["path"] = "/mnt/disks/b"
    found = causes(moved, pinned)
    assert found[0][0] == "spec.persistentvolumesource" and found[0][1].startswith(
        "Forbidden: spec.persistentvolumesource is immutable after creation\n")
    assert '"/mnt/disks/a" -> "/mnt/disks/b"' in found[0][1]
    other_node = copy.deepcopy(pinned)
    other_node["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] = ["n2"]
    assert [f for f, _ in causes(other_node, pinned)] == ["nodeAffinity"]
    block = copy.deepcopy(pinned)
    block["spec"]["volumeMode"] = "Block"
    assert causes(block, pinned) == [("volumeMode", 'Invalid value: "Block": field is immutable')]


@pytest.mark.parametrize("spec,expected", [
    ({"accessModes": []}, [("spec.accessModes", "Required value: at least 1 access mode is required")]),
    ({"resources": {}}, [("spec.resources[storage]", "Required value")]),
    ({"resources": {"requests": {"storage": "-1Gi"}}},
     [("spec.resources[storage]", 'Invalid value: "-1Gi": must be greater than zero')]),
    ({"selector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}},
     [("spec.selector.matchExpressions[0].values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
    ({"dataSource": {"kind": "Snapshot", "name": "s"}},
     [("spec.dataSource", 'Invalid value: "Snapshot": must be \'PersistentVolumeClaim\' when referencing the default '
       "apiGroup")]),
])
def test_claim_rules(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert causes(pvc(**spec)) == expected


def test_what_may_change_in_a_claim() -> None:
    old = defaulted(pvc())
    binding = copy.deepcopy(old)
    binding["spec"]["volumeName"] = "pv-1"  # once, by the binder
    assert causes(binding, old) == []
    retarget = copy.deepcopy(binding)
    retarget["spec"]["volumeName"] = "pv-2"
    assert causes(retarget, binding)[0][1].startswith(
        "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for "
        "bound claims\n")
    late_class = copy.deepcopy(old)
    late_class["spec"]["storageClassName"] = "local-path"  # nil -> a class: the retroactive default
    assert causes(late_class, old) == []
    bound_old = copy.deepcopy(binding)
    bound_old["status"] = {"phase": "Bound"}
    grown = copy.deepcopy(bound_old)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert causes(grown, bound_old) == []  # expansion is admission's to allow or refuse
    shrunk = copy.deepcopy(bound_old)
    shrunk["spec"]["resources"]["requests"]["storage"] = "512Mi"
    assert ("spec.resources.requests.storage", "Forbidden: field can not be less than previous value") in \
        causes(shrunk, bound_old)
    unbound_grow = copy.deepcopy(old)
    unbound_grow["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert [f for f, _ in causes(unbound_grow, old)] == ["spec"]


def test_storage_class_rules() -> None:
    assert causes(sc(provisioner="")) == [("provisioner", "Required value")]
    assert causes(sc(reclaimPolicy="Recycle")) == [
        ("reclaimPolicy", 'Unsupported value: "Recycle": supported values: "Delete", "Retain"')]
    assert causes(sc(volumeBindingMode="Later")) == [
        ("volumeBindingMode", 'Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"')]
    old = sc(parameters={"type": "ssd"})
    changed = sc(parameters={"type": "hdd"}, provisioner="other.io/disk", reclaimPolicy="Retain",
                 volumeBindingMode="WaitForFirstConsumer")
    assert causes(changed, old) == [
        ("parameters", "Forbidden: updates to parameters are forbidden."),
        ("provisioner", "Forbidden: updates to provisioner are forbidden."),
        ("reclaimPolicy", "Forbidden: updates to reclaimPolicy are forbidden."),
        ("volumeBindingMode", 'Invalid value: "WaitForFirstConsumer": field is immutable')]


def cells(resource: str, group: str, obj: dict[str, Any]) -> dict[str, Any]:
    info = registry.lookup(group, "v1", resource)
    assert info is not None
    printer = registry.kind_of(info).printer
    row = table(printer, [obj], now=NOW)["rows"][0]["cells"]
    return dict(zip((c.name for c in printer.columns), row))


def test_the_columns_kubectl_shows() -> None:
    volume = defaulted(pv(claimRef={"namespace": "default", "name": "data"}, storageClassName="manual",
                          accessModes=["ReadOnlyMany", "ReadWriteOnce"]))
    volume["metadata"]["creationTimestamp"] = "2026-11-26T21:00:00Z"
    volume["status"] = {"phase": "Bound"}
    assert cells("persistentvolumes", "", volume) == {
        "Name": "vol", "Capacity": "1Gi", "Access Modes": "RWO,ROX", "Reclaim Policy": "Retain", "Status": "Bound",
        "Claim": "default/data", "StorageClass": "manual", "VolumeAttributesClass": "<unset>", "Reason": "",
        "Age": "60m", "VolumeMode": "Filesystem"}
    volume["metadata"]["deletionTimestamp"] = "2026-11-26T21:59:00Z"
    assert cells("persistentvolumes", "", volume)["Status"] == "Terminating"

    claim = defaulted(pvc(storageClassName="local-path"))
    claim["metadata"]["creationTimestamp"] = "2026-11-26T21:59:30Z"
    pending = cells("persistentvolumeclaims", "", claim)
    assert (pending["Status"], pending["Volume"], pending["Capacity"], pending["Access Modes"]) == \
        ("Pending", "", "", "")
    claim["spec"]["volumeName"] = "vol"
    claim["status"] = {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"]}
    assert cells("persistentvolumeclaims", "", claim) == {
        "Name": "data", "Status": "Bound", "Volume": "vol", "Capacity": "2Gi", "Access Modes": "RWO",
        "StorageClass": "local-path", "VolumeAttributesClass": "<unset>", "Age": "30s", "VolumeMode": "Filesystem"}

    cls = defaulted(sc())
    cls["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    assert list(cells("storageclasses", "storage.k8s.io", cls).values())[:5] == [
        "fast (default)", "example.com/disk", "Delete", "Immediate", False]


def test_pods_name_their_claims_and_sub_paths_stay_inside_volumes() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": {
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": ""}}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [
            {"name": "data", "mountPath": "/a", "subPath": "/etc"},
            {"name": "data", "mountPath": "/b", "subPathExpr": "$(POD)/../x"},
            {"name": "data", "mountPath": "/c", "subPath": "x", "subPathExpr": "$(POD)"}]}]}}
    assert causes(pod) == [
        ("spec.volumes[0].persistentVolumeClaim.claimName", "Required value"),
        ("spec.containers[0].volumeMounts[0].name", 'Not found: "data"'),
        ("spec.containers[0].volumeMounts[0].subPath", 'Invalid value: "/etc": must be a relative path'),
        ("spec.containers[0].volumeMounts[1].name", 'Not found: "data"'),
        ("spec.containers[0].volumeMounts[1].subPathExpr", "Invalid value: \"$(POD)/../x\": must not contain '..'"),
        ("spec.containers[0].volumeMounts[2].name", 'Not found: "data"'),
        ("spec.containers[0].volumeMounts[2].subPathExpr",
         'Invalid value: "$(POD)": subPathExpr and subPath are mutually exclusive')]
