"""Patch formats as the API server applies them: RFC 7386, RFC 6902, strategic merge
patch (with the exact patch real kubectl sends) and kubectl's three-way apply patch."""

from __future__ import annotations

import copy
import json

import pytest

from controlplane.machinery import patchmeta
from controlplane.machinery.patch import (
    PatchError,
    create_three_way_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)


def _directives(value, path=""):
    """Every "$..." key left in a stored object (there must be none)."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key.startswith("$"):
                found.append(f"{path}.{key}")
            found += _directives(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _directives(child, f"{path}[{i}]")
    return found


# --------------------------------------------------------------------------- fixtures


def live_deployment() -> dict:
    """A Deployment as the server stores it: defaulted, with status and server metadata."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "myapp", "namespace": "default", "uid": "6f1c0d52-0d7e-4f0e-9a59-000000000001",
            "resourceVersion": "118", "generation": 2, "creationTimestamp": "2026-11-26T22:01:20Z",
            "labels": {"app": "myapp", "tier": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "myapp"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": {"app": "myapp"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web", "image": "nginx:1.26", "args": ["--a"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"},
                                      {"containerPort": 443, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        },
                        {"name": "sidecar", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                    "terminationGracePeriodSeconds": 30,
                    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
        "status": {
            "observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
            "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}],
        },
    }


# The patch real kubectl 1.37 sent (notes §2.3) after removing a label, a port, an
# env var, a volumeMount and a container, switching to Recreate and changing a volume source.
KUBECTL_PATCH = {
    "metadata": {"labels": {"tier": None}},
    "spec": {
        "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
        "template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "$setElementOrder/volumes": [{"name": "data"}],
            "containers": [
                {"$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                 "$setElementOrder/ports": [{"containerPort": 80}],
                 "args": ["--b"],
                 "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "A"}],
                 "name": "web",
                 "ports": [{"$patch": "delete", "containerPort": 443}],
                 "volumeMounts": None},
                {"$patch": "delete", "name": "sidecar"},
            ],
            "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"},
                         "emptyDir": None, "name": "data"}],
        }},
    },
}


# --------------------------------------------------------------------------- RFC 7386


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A (those whose target and patch are objects)
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(target, patch, expected):
    assert json_merge_patch(target, patch) == expected


def test_merge_patch_rfc7386_document_example():
    target = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
              "tags": ["example", "sample"], "content": "This will be unchanged"}
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None},
             "tags": ["example"]}
    assert json_merge_patch(target, patch) == {
        "title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
        "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"}


def test_merge_patch_kubectl_scale_body_changes_only_replicas():
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "myapp"},
             "spec": {"replicas": 2}, "status": {"replicas": 2, "selector": "app=myapp"}}
    result = json_merge_patch(scale, {"spec": {"replicas": 4}})
    assert result == {**scale, "spec": {"replicas": 4}}


@pytest.mark.parametrize("patch", [["c"], None, "bar", 3])
def test_merge_patch_that_is_not_an_object_is_rejected(patch):
    with pytest.raises(PatchError, match="must be a JSON object"):
        json_merge_patch({"a": "foo"}, patch)


def test_merge_patch_does_not_touch_its_inputs_or_share_structure():
    target, patch = {"a": {"b": [1]}, "c": {"d": 1}}, {"a": {"e": {"f": 1}}}
    before = copy.deepcopy((target, patch))
    result = json_merge_patch(target, patch)
    result["c"]["d"] = 99
    result["a"]["e"]["f"] = 99
    assert (target, patch) == before


# --------------------------------------------------------------------------- RFC 6902


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [  # RFC 6902 appendix A
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
        ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
         {"foo": ["bar", "qux", "baz"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
         {"baz": "boo", "foo": "bar"}),
        ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
         [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
         {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
         {"foo": ["all", "cows", "eat", "grass"]}),
        ({"baz": "qux", "foo": ["a", 2, "c"]},
         [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
         {"baz": "qux", "foo": ["a", 2, "c"]}),
        ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
         {"foo": "bar", "child": {"grandchild": {}}}),
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
         {"foo": "bar", "baz": "qux"}),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
         {"foo": ["bar", ["abc", "def"]]}),
        # and the rest of the operations
        ({"a/b": {"c~d": 1}}, [{"op": "copy", "from": "/a~1b/c~0d", "path": "/e"}],
         {"a/b": {"c~d": 1}, "e": 1}),
        ({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ],
)
def test_json_patch_rfc6902_examples(doc, ops, expected):
    assert json_patch(doc, ops) == expected


@pytest.mark.parametrize(
    ("doc", "ops", "message"),
    [
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
         'operation 0 (test /baz) failed: value is "qux", expected "bar"'),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
         'operation 0 (test /~01) failed: value is 10, expected "10"'),
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
         'operation 0 (add /baz/bat) failed: "/baz" does not exist'),
        ({"spec": {}}, [{"op": "add", "path": "/spec/a", "value": 1}, {"op": "remove", "path": "/spec/foo"}],
         'operation 1 (remove /spec/foo) failed: "/spec/foo" does not exist'),
        ({"spec": {}}, [{"op": "replace", "path": "/spec/replicas", "value": 3}],
         'operation 0 (replace /spec/replicas) failed: "/spec/replicas" does not exist'),
        ({"a": [1, 2]}, [{"op": "add", "path": "/a/3", "value": 0}],
         'failed: "/a/3": index 3 is out of range (array has 2 items)'),
        ({"a": [1, 2]}, [{"op": "remove", "path": "/a/-"}], 'failed: "/a/-": "-" is not an array index'),
        ({"a": [1]}, [{"op": "replace", "path": "/a/01", "value": 0}], '"01" is not an array index'),
        ({"a": {}}, [{"op": "move", "from": "/a", "path": "/a/b"}], "cannot move a value into one of its own"),
        ({"a": True}, [{"op": "test", "path": "/a", "value": 1}], "value is true, expected 1"),
        ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], 'unknown op "frobnicate"'),
        ({"a": 1}, [{"op": "add", "path": "/b"}], 'failed: missing "value"'),
        ({"a": 1}, [{"op": "add", "path": "b", "value": 1}], '"b" is not a valid JSON pointer'),
        ({"a": 1}, [{"op": "remove", "path": ""}], "cannot remove the whole document"),
        ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], "it must stay an object"),
        ({"a": 1}, {"op": "add"}, "must be an array of operations"),
    ],
)
def test_json_patch_errors_name_the_operation_and_path(doc, ops, message):
    with pytest.raises(PatchError) as caught:
        json_patch(doc, ops)
    assert message in str(caught.value)


def test_json_patch_is_all_or_nothing_and_never_mutates():
    doc = {"spec": {"replicas": 1, "list": [1, 2]}}
    before = copy.deepcopy(doc)
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "replace", "path": "/spec/replicas", "value": 5},
                         {"op": "remove", "path": "/spec/list/0"},
                         {"op": "test", "path": "/spec/replicas", "value": 1}])
    assert doc == before
    value = {"x": [1]}
    result = json_patch(doc, [{"op": "add", "path": "/spec/v", "value": value}])
    result["spec"]["v"]["x"].append(2)
    assert value == {"x": [1]}


def test_json_patch_replace_keeps_the_field_in_place():
    result = json_patch({"a": 1, "b": 2, "c": 3}, [{"op": "replace", "path": "/b", "value": 20}])
    assert list(result.items()) == [("a", 1), ("b", 20), ("c", 3)]


def test_json_patch_as_the_python_client_sends_it_for_a_deployment():
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5},
           {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
           {"op": "remove", "path": "/spec/template/spec/containers/1"}]
    result = json_patch(live_deployment(), ops)
    assert result["spec"]["replicas"] == 5
    assert result["metadata"]["labels"] == {"app": "myapp", "tier": "web", "env": "prod"}
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["web"]


# --------------------------------------------------------------------------- patch metadata


def test_merge_keys_depend_on_the_type_not_the_field_name():
    container_ports = patchmeta.lookup("Deployment", ["spec", "template", "spec", "containers", "ports"])
    service_ports = patchmeta.lookup("Service", ["spec", "ports"])
    assert container_ports.merge_key == "containerPort"
    assert service_ports.merge_key == "port"
    assert patchmeta.lookup("Pod", ["spec", "initContainers", "env"]).merge_key == "name"
    assert patchmeta.lookup("ReplicaSet", ["spec", "template", "spec", "volumes"]).retain_keys
    assert patchmeta.lookup("Deployment", ["spec", "strategy"]).retain_keys
    assert patchmeta.lookup("Node", ["status", "addresses"]).merge_key == "type"
    assert patchmeta.lookup("Pod", ["metadata", "finalizers"]).primitive_merge
    assert patchmeta.lookup("Node", ["spec", "podCIDRs"]).primitive_merge
    assert patchmeta.lookup("Pod", ["spec", "tolerations"]) is None  # atomic
    assert patchmeta.lookup("Endpoints", ["subsets"]) is None  # atomic
    assert patchmeta.lookup("Widget", ["spec"]) is None  # not a served kind


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_daemonset_and_statefulset_templates_merge_as_pod_templates(kind):
    """A `kubectl set image ds/x c=...` patch changes the image only, as on a Deployment."""
    assert patchmeta.lookup(kind, ["spec", "template", "spec", "containers"]).merge_key == "name"
    assert patchmeta.lookup(kind, ["status", "conditions"]).merge_key == "type"
    assert patchmeta.lookup(kind, ["spec", "selector"]).shape == "atomic"
    assert patchmeta.lookup("StatefulSet", ["spec", "volumeClaimTemplates"]) is None  # atomic
    obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a:1", "args": ["-v"]},
                                                         {"name": "side", "image": "s:1"}]}}}}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a:2"}]}}}}
    got = strategic_merge_patch(obj, patch, kind)
    assert got["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "a:2", "args": ["-v"]},
                                                             {"name": "side", "image": "s:1"}]


# --------------------------------------------------------------------------- strategic merge patch


def test_real_kubectl_patch_against_live_deployment():
    live = live_deployment()
    before = copy.deepcopy(live)
    result = strategic_merge_patch(live, KUBECTL_PATCH, "Deployment")

    expected = live_deployment()
    expected["metadata"]["labels"] = {"app": "myapp"}
    expected["spec"]["strategy"] = {"type": "Recreate"}
    pod = expected["spec"]["template"]["spec"]
    pod["containers"] = [{
        "name": "web", "image": "nginx:1.26", "args": ["--b"],
        "env": [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }]
    pod["volumes"] = [{"name": "data", "configMap": {"name": "cfg"}}]
    assert result == expected
    assert [e["name"] for e in pod["containers"][0]["env"]] == ["B", "C"]  # $setElementOrder
    assert _directives(result) == []
    assert live == before
    assert json.dumps(KUBECTL_PATCH)  # the module constant was not mutated either
    assert KUBECTL_PATCH["spec"]["template"]["spec"]["containers"][1] == {"$patch": "delete", "name": "sidecar"}


def test_python_client_scale_patch_is_strategic_and_keeps_everything_else():
    result = strategic_merge_patch(live_deployment(), {"spec": {"replicas": 4}}, "Deployment")
    assert result == {**live_deployment(), "spec": {**live_deployment()["spec"], "replicas": 4}}


def test_added_container_goes_first_like_the_kubectl_patch_docs_show():
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis"}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["redis", "web", "sidecar"]


def test_container_merge_changes_only_the_named_container():
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.37"}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    web, sidecar = result["spec"]["template"]["spec"]["containers"]
    assert web == live_deployment()["spec"]["template"]["spec"]["containers"][0]
    assert sidecar == {"name": "sidecar", "image": "busybox:1.37", "imagePullPolicy": "IfNotPresent"}


def test_service_ports_merge_by_port():
    live = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "myapp"},
            "spec": {"type": "ClusterIP", "selector": {"app": "myapp"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                               {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}}
    result = strategic_merge_patch(live, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, "Service")
    assert result["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]


def test_lists_without_a_merge_strategy_are_replaced():
    patch = {"spec": {"template": {"spec": {
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "containers": [{"name": "web", "args": ["--c"]}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    pod = result["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert pod["containers"][0]["args"] == ["--c"]
    endpoints = {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}
    patched = strategic_merge_patch(endpoints, {"subsets": [{"addresses": [{"ip": "10.0.0.3"}]}]}, "Endpoints")
    assert patched["subsets"] == [{"addresses": [{"ip": "10.0.0.3"}]}]


def test_patch_replace_and_delete_directives_on_maps():
    live = live_deployment()
    replaced = strategic_merge_patch(
        live, {"metadata": {"labels": {"$patch": "replace", "app": "other"}}}, "Deployment")
    assert replaced["metadata"]["labels"] == {"app": "other"}
    deleted = strategic_merge_patch(live, {"spec": {"strategy": {"$patch": "delete"}}}, "Deployment")
    assert "strategy" not in deleted["spec"]
    merged = strategic_merge_patch(live, {"metadata": {"labels": {"$patch": "merge", "x": "y"}}}, "Deployment")
    assert merged["metadata"]["labels"] == {"app": "myapp", "tier": "web", "x": "y"}


def test_retain_keys_drops_fields_the_patch_does_not_list():
    # kubectl without last-applied: no "rollingUpdate": null, only $retainKeys clears it
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                      "template": {"spec": {"volumes": [
                          {"$retainKeys": ["hostPath", "name"], "name": "data", "hostPath": {"path": "/srv"}}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/srv"}}]


def test_patch_replace_item_replaces_the_whole_list():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "busybox"}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "busybox"}]


def test_primitive_merge_lists_union_and_delete_from_primitive_list():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a.io/x", "b.io/y"]}}
    added = strategic_merge_patch(pod, {"metadata": {"finalizers": ["b.io/y", "c.io/z"]}}, "Pod")
    assert added["metadata"]["finalizers"] == ["a.io/x", "b.io/y", "c.io/z"]
    removed = strategic_merge_patch(pod, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/x"]}}, "Pod")
    assert removed["metadata"]["finalizers"] == ["b.io/y"]
    node = {"kind": "Node", "spec": {"podCIDRs": ["10.244.1.0/24"]}}
    # a value the server did not have goes first, as with Go's list ordering
    assert strategic_merge_patch(node, {"spec": {"podCIDRs": ["fd00::/64"]}}, "Node")["spec"]["podCIDRs"] == [
        "fd00::/64", "10.244.1.0/24"]
    # the same field of a kind without patch metadata is replaced
    assert strategic_merge_patch(pod, {"metadata": {"finalizers": ["c"]}}, "Widget")["metadata"]["finalizers"] == ["c"]


def test_status_conditions_merge_by_type_and_owner_references_by_uid():
    pod = {"kind": "Pod", "metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs1"}]},
           "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"},
                                                         {"type": "Ready", "status": "False"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "u2", "kind": "Node", "name": "n1"}]},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                        "podIPs": [{"ip": "10.0.0.5"}]}}
    result = strategic_merge_patch(pod, patch, "Pod")
    assert result["status"] == {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
                                "conditions": [{"type": "PodScheduled", "status": "True"},
                                               {"type": "Ready", "status": "True"}]}
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["u2", "u1"]


def test_unknown_directives_are_dropped_and_new_items_are_cleaned():
    patch = {"$frobnicate": 1, "metadata": {"labels": {"$weird": "x", "a": "b"}},
             "spec": {"template": {"spec": {"volumes": [
                 {"name": "cache", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}},
                 {"$patch": "delete", "name": "not-there"}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    assert _directives(result) == []
    assert result["spec"]["template"]["spec"]["volumes"] == [
        {"name": "cache", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]


def test_setelementorder_alone_reorders_the_live_list():
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}}}}
    result = strategic_merge_patch(live_deployment(), patch, "Deployment")
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["sidecar", "web"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
         '.spec.template.spec.containers: item {"image": "x"} has no merge key "name"'),
        ({"spec": {"template": {"spec": {"containers": ["web"]}}}},
         '.spec.template.spec.containers: items must be objects merged by "name", got string'),
        ({"spec": {"strategy": {"$patch": "explode"}}}, '.spec.strategy: unknown "$patch": "explode"'),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, ".spec.strategy: $retainKeys must be a list"),
        ({"$patch": "delete"}, "would delete the whole object"),
    ],
)
def test_bad_strategic_patches_say_where(patch, message):
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(live_deployment(), patch, "Deployment")
    assert message in str(caught.value)


# --------------------------------------------------------------------------- three-way patch


def _manifest(**changes) -> dict:
    """The user's manifest for myapp (what last-applied-configuration holds)."""
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "myapp", "namespace": "default", "labels": {"app": "myapp", "tier": "web"}},
        "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": "myapp"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "myapp"}}, "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1.26", "args": ["--a"],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80}, {"containerPort": 443}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                    {"name": "sidecar", "image": "busybox:1.36"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]}}}}
    manifest.update(changes)
    return manifest


def _edited_manifest() -> dict:
    new = _manifest()
    del new["metadata"]["labels"]["tier"]
    new["spec"]["strategy"] = {"type": "Recreate"}
    pod = new["spec"]["template"]["spec"]
    pod["containers"] = [{"name": "web", "image": "nginx:1.26", "args": ["--b"],
                          "env": [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                          "ports": [{"containerPort": 80}]}]
    pod["volumes"] = [{"name": "data", "configMap": {"name": "cfg"}}]
    return new


def test_three_way_patch_is_exactly_what_kubectl_sent():
    patch = create_three_way_patch(_manifest(), _edited_manifest(), live_deployment(), "Deployment")
    assert patch == KUBECTL_PATCH


def test_three_way_patch_applied_to_live_gives_the_new_manifest_plus_server_fields():
    live = live_deployment()
    patch = create_three_way_patch(_manifest(), _edited_manifest(), live, "Deployment")
    result = strategic_merge_patch(live, patch, "Deployment")
    assert result == strategic_merge_patch(live, KUBECTL_PATCH, "Deployment")
    assert result["status"] == live["status"]


def test_three_way_patch_is_empty_when_nothing_changed():
    assert create_three_way_patch(_manifest(), _manifest(), live_deployment(), "Deployment") == {}


def test_three_way_patch_leaves_fields_others_set_and_undoes_drift():
    live = live_deployment()
    live["metadata"]["labels"]["team"] = "payments"  # added by someone else: kept
    live["spec"]["replicas"] = 7  # drift from the manifest: reset
    patch = create_three_way_patch(_manifest(), _manifest(), live, "Deployment")
    assert patch == {"spec": {"replicas": 3}}


def test_three_way_patch_without_last_applied_only_sets():
    patch = create_three_way_patch(None, _edited_manifest(), live_deployment(), "Deployment")
    assert "metadata" not in patch  # the tier label is not known to be ours: kept
    assert patch["spec"]["strategy"] == {"$retainKeys": ["type"], "type": "Recreate"}
    pod = patch["spec"]["template"]["spec"]
    assert pod["containers"] == [{"$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                                  "$setElementOrder/ports": [{"containerPort": 80}],
                                  "args": ["--b"], "env": [{"name": "C", "value": "3"}], "name": "web"}]
    assert "$patch" not in json.dumps(pod)  # nothing is deleted


def test_three_way_patch_for_finalizers_uses_primitive_directives():
    original = {"metadata": {"finalizers": ["a", "b"]}}
    modified = {"metadata": {"finalizers": ["b", "c"]}}
    current = {"metadata": {"finalizers": ["x", "a", "b"]}}
    patch = create_three_way_patch(original, modified, current, "Pod")
    assert patch == {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"],
                                  "$setElementOrder/finalizers": ["b", "c"], "finalizers": ["c"]}}
    assert strategic_merge_patch(current, patch, "Pod") == {"metadata": {"finalizers": ["x", "b", "c"]}}


def test_three_way_patch_does_not_mutate_inputs():
    args = (_manifest(), _edited_manifest(), live_deployment())
    before = copy.deepcopy(args)
    patch = create_three_way_patch(*args, "Deployment")
    patch["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "changed"
    assert args == before
