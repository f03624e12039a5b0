"""The cheaper write path gives what the plain one gave: copies stay independent, in-place
patches equal copying ones, remembered FieldsV1 encodings are never shared, and the managedFields
the store records equal record_update's."""

from __future__ import annotations

import copy

import pytest

from controlplane.machinery import meta as m
from controlplane.machinery.apply import managed_fields_after_update, record_update, to_fields_v1
from controlplane.machinery.patch import json_merge_patch, json_patch, strategic_merge_patch

T0, T1 = "2026-11-27T10:00:00Z", "2026-11-27T10:01:00Z"


def pod() -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                          "uid": "u1", "controller": True}]},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.26", "ports": [{"containerPort": 80}],
                                 "resources": {"requests": {"cpu": "10m"}}}],
                 "tolerations": [{"key": "k", "operator": "Exists"}], "enableServiceLinks": True,
                 "terminationGracePeriodSeconds": 30},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True",
                                                       "lastProbeTime": None}]},
    }


def test_deep_copy_is_an_independent_equal_copy():
    original = pod()
    copied = m.deep_copy(original)
    assert copied == original and copied is not original
    copied["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080
    copied["metadata"]["labels"]["app"] = "other"
    assert original == pod()


def test_deep_copy_keeps_other_types_as_copy_deepcopy_does():
    value = {"t": (1, [2]), "s": {3}}
    copied = m.deep_copy(value)
    assert copied == copy.deepcopy(value)
    assert type(copied["t"]) is tuple and copied["t"][1] is not value["t"][1]


@pytest.mark.parametrize("apply", [
    lambda obj, **kw: json_merge_patch(obj, {"spec": {"nodeName": "n1", "tolerations": None}}, **kw),
    lambda obj, **kw: json_patch(obj, [{"op": "add", "path": "/spec/nodeName", "value": "n1"},
                                       {"op": "remove", "path": "/metadata/labels/app"}], **kw),
    lambda obj, **kw: strategic_merge_patch(obj, {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                                                  "status": {"phase": "Running"}}, "Pod", **kw),
])
def test_in_place_patch_gives_what_the_copying_one_gives(apply):
    copying = apply(pod())
    owned = pod()
    assert apply(owned, in_place=True) == copying
    source = pod()
    apply(source)
    assert source == pod()  # without in_place the target is left alone


def test_remembered_fields_v1_is_never_shared_with_a_caller():
    paths = {("f:spec", "f:containers", 'k:{"name":"web"}', "f:image"), ("f:spec", "f:nodeName")}
    first = to_fields_v1(paths)
    first["f:spec"]["f:injected"] = {}
    second = to_fields_v1(set(paths))
    assert second == {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:image": {}}}, "f:nodeName": {}}}


def _bound(obj: dict) -> dict:
    new = m.deep_copy(obj)
    new["spec"]["nodeName"] = "n1"
    new["status"]["conditions"][0]["status"] = "False"  # status: not owned outside /status
    return new


def test_store_records_the_managed_fields_record_update_records():
    created = record_update(None, pod(), "kube-controller-manager", kind="Pod", api_version="v1", now=T0)
    bound = _bound(created)
    sent_back = m.deep_copy(bound)  # a client that sends back the managedFields it read
    for new in (bound, sent_back):
        expected = record_update(created, new, "kube-scheduler", kind="Pod", api_version="v1", now=T1)
        before = m.deep_copy(new)
        assert managed_fields_after_update(created, new, "kube-scheduler", kind="Pod", api_version="v1",
                                           now=T1) == expected["metadata"]["managedFields"]
        assert new == before  # the object itself is not touched
    owners = {e["manager"]: e["fieldsV1"] for e in expected["metadata"]["managedFields"]}
    assert owners["kube-scheduler"] == {"f:spec": {"f:nodeName": {}}}
    assert "f:status" not in owners["kube-scheduler"]


def test_true_and_one_are_a_change_though_python_says_equal():
    old = record_update(None, pod(), "a", kind="Pod", api_version="v1", now=T0)
    new = m.deep_copy(old)
    new["spec"]["enableServiceLinks"] = 1  # == True in Python, not in JSON
    fields = managed_fields_after_update(old, new, "b", kind="Pod", api_version="v1", now=T1)
    owned = {e["manager"]: e["fieldsV1"] for e in fields}
    assert owned["b"] == {"f:spec": {"f:enableServiceLinks": {}}}
    same = m.deep_copy(old)
    same["spec"]["terminationGracePeriodSeconds"] = 30.0  # 30 == 30.0 in JSON too: no change
    assert [e["manager"] for e in managed_fields_after_update(old, same, "b", kind="Pod", api_version="v1",
                                                              now=T1)] == ["a"]
