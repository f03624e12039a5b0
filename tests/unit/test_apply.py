"""Server-side apply and managedFields as kubectl and the Python client see them."""

from __future__ import annotations

import copy

import pytest

from controlplane.machinery.apply import (
    ApplyConflict,
    Conflict,
    fieldset_of,
    from_fields_v1,
    path_string,
    record_update,
    server_side_apply,
    to_fields_v1,
)
from controlplane.machinery.patch import PatchError, strategic_merge_patch

T0, T1, T2, T3 = "2026-11-26T22:00:00Z", "2026-11-26T22:01:00Z", "2026-11-26T22:02:00Z", "2026-11-26T22:03:00Z"


def manifest() -> dict:
    """What `kubectl apply --server-side -f deployment.yaml` sends."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "myapp", "namespace": "default", "labels": {"app": "myapp", "tier": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "myapp"}},
            "template": {
                "metadata": {"labels": {"app": "myapp"}},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.26", "ports": [{"containerPort": 80}],
                     "env": [{"name": "MODE", "value": "prod"}]},
                    {"name": "sidecar", "image": "busybox:1.36"}]},
            },
        },
    }


def apply(live, applied, manager="kubectl", *, force=False, now=T1):
    return server_side_apply(live, applied, manager, force=force, kind="Deployment",
                             api_version="apps/v1", now=now)


def update(old, new, manager, now=T1, **kw):
    return record_update(old, new, manager, kind="Deployment", api_version="apps/v1", now=now, **kw)


def entries(obj) -> dict:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def owned(obj, manager, operation="Apply") -> set[str]:
    return {path_string(p) for p in from_fields_v1(entries(obj)[(manager, operation)]["fieldsV1"])}


def stored(obj: dict) -> dict:
    """What the server adds when it stores an object."""
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="0b6d3f2e-0000-4000-8000-000000000001", resourceVersion="101",
                           generation=1, creationTimestamp=T0)
    return obj


# --------------------------------------------------------------------------- create and re-apply


def test_apply_creates_the_object_and_records_the_real_fieldsv1():
    result = apply(None, manifest(), now=T0)
    assert {k: v for k, v in result.items() if k != "metadata"} == {
        k: v for k, v in manifest().items() if k != "metadata"}
    assert result["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},  # LabelSelector is atomic
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {
                        'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}},
                        'k:{"name":"web"}': {
                            ".": {}, "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
                            "f:image": {}, "f:name": {},
                            "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                        },
                    }},
                },
            },
        },
    }]


def test_reapplying_the_same_manifest_changes_nothing():
    first = stored(apply(None, manifest(), now=T0))
    again = apply(first, manifest(), now=T2)
    assert again == first  # same object, same managedFields time: the server can skip the write


def test_apply_ignores_server_owned_metadata_and_status():
    config = manifest()
    config["metadata"].update(uid="forged", resourceVersion="7", generation=99)
    config["status"] = {"replicas": 100}
    live = stored(apply(None, manifest(), now=T0))
    live["status"] = {"replicas": 2}
    result = apply(live, config)
    assert result["metadata"]["uid"] == live["metadata"]["uid"]
    assert result["metadata"]["resourceVersion"] == "101"
    assert result["status"] == {"replicas": 2}
    assert not any(p.startswith((".status", ".metadata.uid", ".metadata.name")) for p in owned(result, "kubectl"))


# --------------------------------------------------------------------------- removal of fields no longer applied


def test_apply_dropping_fields_removes_them():
    live = stored(apply(None, manifest(), now=T0))
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"  # defaulted
    live["status"] = {"replicas": 2}
    smaller = manifest()
    del smaller["metadata"]["labels"]["tier"]
    web = smaller["spec"]["template"]["spec"]["containers"][0]
    del web["env"]
    smaller["spec"]["template"]["spec"]["containers"] = [web]

    result = apply(live, smaller, now=T2)
    assert result["metadata"]["labels"] == {"app": "myapp"}
    containers = result["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "nginx:1.26", "ports": [{"containerPort": 80}],
                           "terminationMessagePath": "/dev/termination-log"}]  # unowned default stays
    assert result["status"] == {"replicas": 2}
    assert '.spec.template.spec.containers[name="sidecar"]' not in owned(result, "kubectl")
    assert entries(result)[("kubectl", "Apply")]["time"] == T2


def test_a_dropped_field_that_another_manager_also_owns_stays():
    live = stored(apply(None, manifest(), now=T0))
    other = copy.deepcopy(manifest())
    other["metadata"]["labels"] = {"tier": "web"}
    other["spec"] = {}
    live = apply(live, other, "team-b", now=T1)  # same value: shared ownership, no conflict
    assert ".metadata.labels.tier" in owned(live, "team-b")

    smaller = manifest()
    del smaller["metadata"]["labels"]["tier"]
    result = apply(live, smaller, now=T2)
    assert result["metadata"]["labels"] == {"app": "myapp", "tier": "web"}
    assert ".metadata.labels.tier" not in owned(result, "kubectl")


# --------------------------------------------------------------------------- conflicts


def test_conflict_with_another_applier_names_it_without_an_api_version():
    live = stored(apply(None, manifest(), now=T0))
    mine = manifest()
    mine["spec"]["replicas"] = 5
    with pytest.raises(ApplyConflict) as caught:
        apply(live, mine, "deployer")
    assert caught.value.conflicts == [Conflict("kubectl", "apps/v1", ".spec.replicas", "Apply")]
    assert caught.value.message() == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'


def test_several_conflicts_are_listed_per_manager():
    live = stored(apply(None, manifest(), now=T0))
    mine = manifest()
    mine["spec"]["replicas"] = 5
    mine["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    with pytest.raises(ApplyConflict) as caught:
        apply(live, mine, "deployer")
    assert caught.value.message() == (
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image')


def test_force_takes_ownership_and_the_old_owner_now_conflicts():
    live = stored(apply(None, manifest(), now=T0))
    mine = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myapp"}, "spec": {"replicas": 5}}
    result = apply(live, mine, "autoscaler", force=True, now=T2)
    assert result["spec"]["replicas"] == 5
    assert owned(result, "autoscaler") == {".spec.replicas"}
    assert ".spec.replicas" not in owned(result, "kubectl")
    assert result["spec"]["template"] == live["spec"]["template"]

    with pytest.raises(ApplyConflict) as caught:
        apply(result, manifest(), now=T3)  # kubectl still says replicas: 2
    assert caught.value.message() == 'Apply failed with 1 conflict: conflict with "autoscaler": .spec.replicas'


def test_client_side_apply_owner_then_server_side_apply_conflict():
    # `kubectl apply` (client-side) created it: POST ?fieldManager=kubectl-client-side-apply
    created = stored(update(None, manifest(), "kubectl-client-side-apply", now=T0))
    assert entries(created)[("kubectl-client-side-apply", "Update")]["fieldsV1"]["f:metadata"] == {
        "f:labels": {".": {}, "f:app": {}, "f:tier": {}}}
    changed = manifest()
    changed["spec"]["replicas"] = 3

    with pytest.raises(ApplyConflict) as caught:
        apply(created, changed, now=T1)
    error = caught.value
    assert str(error) == error.message() == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas')
    assert error.causes() == [{"reason": "FieldManagerConflict",
                               "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
                               "field": ".spec.replicas"}]
    assert error.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Conflict",
        "code": 409, "message": error.message(), "details": {"causes": error.causes()}}

    forced = apply(created, changed, force=True, now=T2)
    assert forced["spec"]["replicas"] == 3
    assert ".spec.replicas" not in owned(forced, "kubectl-client-side-apply", "Update")
    assert ".spec.template.spec.containers[name=\"web\"].image" in owned(forced, "kubectl-client-side-apply", "Update")


def test_same_value_is_shared_not_a_conflict():
    created = stored(update(None, manifest(), "kubectl-client-side-apply", now=T0))
    result = apply(created, manifest(), now=T1)
    assert {k: v for k, v in result.items() if k != "metadata"} == {
        k: v for k, v in created.items() if k != "metadata"}
    assert ".spec.replicas" in owned(result, "kubectl")
    assert ".spec.replicas" in owned(result, "kubectl-client-side-apply", "Update")


# --------------------------------------------------------------------------- record_update


def test_python_client_patch_takes_fields_from_the_applier():
    live = stored(apply(None, manifest(), now=T0))
    patched = strategic_merge_patch(live, {"spec": {"replicas": 4}}, "Deployment")
    result = update(live, patched, "OpenAPI-Generator/37.0.2/python", now=T2)
    assert entries(result)[("OpenAPI-Generator/37.0.2/python", "Update")] == {
        "manager": "OpenAPI-Generator/37.0.2/python", "operation": "Update", "apiVersion": "apps/v1",
        "time": T2, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    assert ".spec.replicas" not in owned(result, "kubectl")

    with pytest.raises(ApplyConflict, match='conflict with "OpenAPI-Generator/37.0.2/python" using apps/v1: '
                                            r"\.spec\.replicas"):
        apply(result, manifest(), now=T3)


def test_update_ignores_server_owned_metadata_status_and_unchanged_writes():
    live = stored(update(None, manifest(), "kubectl-create", now=T0))
    assert not any(p.startswith((".metadata.uid", ".metadata.name", ".apiVersion", ".kind"))
                   for p in owned(live, "kubectl-create", "Update"))
    bumped = copy.deepcopy(live)
    bumped["metadata"]["resourceVersion"] = "102"
    bumped["status"] = {"replicas": 2}
    assert update(live, bumped, "kubectl-edit", now=T2)["metadata"]["managedFields"] == \
        live["metadata"]["managedFields"]


def test_status_writes_are_owned_separately():
    live = stored(update(None, manifest(), "kubectl-create", now=T0))
    with_status = copy.deepcopy(live)
    with_status["status"] = {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    result = update(live, with_status, "pyctl-controller-manager", now=T1, subresource="status")
    entry = entries(result)[("pyctl-controller-manager", "Update")]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {  # status is a struct: no "." of its own
        "f:conditions": {".": {}, 'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}},
        "f:replicas": {}}}


def test_removed_fields_leave_every_managers_set():
    live = stored(update(None, manifest(), "kubectl-client-side-apply", now=T0))
    edited = copy.deepcopy(live)
    del edited["metadata"]["labels"]["tier"]
    edited["spec"]["template"]["spec"]["containers"].pop()
    result = update(live, edited, "kubectl-edit", now=T1)
    still = owned(result, "kubectl-client-side-apply", "Update")
    assert ".metadata.labels.tier" not in still
    assert not any("sidecar" in p for p in still)
    assert ("kubectl-edit", "Update") not in entries(result)  # it only removed: owns nothing


def test_managed_fields_sent_back_by_a_client_are_honoured_only_if_they_say_something_new():
    live = stored(apply(None, manifest(), now=T0))
    echoed = copy.deepcopy(live)  # the Python client re-serialises times as +00:00
    for entry in echoed["metadata"]["managedFields"]:
        entry["time"] = entry["time"].replace("Z", "+00:00")
    echoed["spec"]["replicas"] = 3
    result = update(live, echoed, "OpenAPI-Generator/37.0.2/python", now=T2)
    assert entries(result)[("kubectl", "Apply")]["time"] == T0
    assert ".spec.replicas" not in owned(result, "kubectl")

    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]  # upstream's way to strip managedFields
    reset["spec"]["replicas"] = 3
    assert update(live, reset, "kubectl-edit", now=T2)["metadata"]["managedFields"] == [{
        "manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "time": T2,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]


# --------------------------------------------------------------------------- encoding and errors


def test_fieldsv1_round_trip_and_path_text():
    paths = {("f:metadata", "f:finalizers", 'v:"example.com/x"'),
             ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'),
             ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:port")}
    encoded = to_fields_v1(paths)
    assert encoded == {"f:metadata": {"f:finalizers": {'v:"example.com/x"': {}}},
                       "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}
    assert from_fields_v1(encoded) == paths
    assert path_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:port")) == \
        '.spec.ports[port=80,protocol="TCP"].port'
    assert path_string(("f:metadata", "f:finalizers", 'v:"example.com/x"')) == '.metadata.finalizers[="example.com/x"]'


def test_fieldset_of_a_service_keys_ports_by_port_and_protocol():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "finalizers": ["a/b"]},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}}
    assert fieldset_of(service, "Service") == {
        "f:metadata": {"f:finalizers": {'v:"a/b"': {}}},
        "f:spec": {"f:ports": {'k:{"port":53,"protocol":"TCP"}': {".": {}, "f:port": {}},
                               'k:{"port":53,"protocol":"UDP"}': {".": {}, "f:port": {}, "f:protocol": {}}},
                   "f:selector": {}}}


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        ([{"image": "x"}], '.spec.template.spec.containers: list item {"image":"x"} needs the key field(s) "name"'),
        ([{"name": "a"}, {"name": "a"}], 'duplicate entries for key [name="a"]'),
    ],
)
def test_malformed_apply_configurations_are_rejected(containers, message):
    config = manifest()
    config["spec"]["template"]["spec"]["containers"] = containers
    with pytest.raises(PatchError) as caught:
        apply(None, config)
    assert message in str(caught.value)


def test_apply_never_mutates_its_inputs():
    live = stored(update(None, manifest(), "kubectl-client-side-apply", now=T0))
    config = manifest()
    config["spec"]["replicas"] = 9
    before = copy.deepcopy((live, config))
    with pytest.raises(ApplyConflict):
        apply(live, config)
    apply(live, config, force=True)
    update(live, config, "someone")
    assert (live, config) == before


def test_subtrees_added_again_own_the_same_fields_as_walked_afresh():
    """Creates remember the paths of a subtree by its JSON text (apply._ADDED): a second create
    of the same spec owns what the first did, and any difference in the spec shows."""
    from controlplane.machinery import apply

    def created(obj: dict) -> set[str]:
        entry = apply.managed_fields_after_update(None, obj, "m", kind="Deployment", api_version="apps/v1",
                                                  now=T0)[0]
        return {path_string(p) for p in from_fields_v1(entry["fieldsV1"])}

    apply._ADDED.clear()
    apply._CREATED.clear()  # the whole object remembered would not walk the spec at all
    first = created(manifest())
    assert apply._ADDED, "the spec was not remembered"
    again = manifest()
    again["metadata"]["name"] = "other"  # metadata is never remembered: it differs in every object
    apply._CREATED.clear()
    assert created(again) == first
    apply._ADDED.clear()
    apply._CREATED.clear()
    assert created(manifest()) == first  # the same as walking it afresh

    changed = manifest()
    changed["spec"]["template"]["spec"]["containers"].append({"name": "third", "image": "x"})
    changed["spec"]["replicas"] = 2.0  # equal to 2 for ==, not in JSON
    apply._CREATED.clear()
    fields = created(changed)
    assert fields - first == {'.spec.template.spec.containers[name="third"]',
                              '.spec.template.spec.containers[name="third"].name',
                              '.spec.template.spec.containers[name="third"].image'}


def _corpus() -> list[dict]:
    import pathlib

    import yaml
    root = pathlib.Path(__file__).resolve().parents[2]
    files = sorted((root / "manifests").glob("*.yaml")) + [root / "tests/data/kube-prometheus/objects.yaml"]
    found = [manifest()]
    for path in files:
        found += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and d.get("kind")]
    return found


def _variants(obj: dict) -> list[dict]:
    """The object, and the same as another create of its template would send it."""
    out = [copy.deepcopy(obj)]
    renamed = copy.deepcopy(obj)
    md = renamed.setdefault("metadata", {})
    md.update(name=(md.get("name") or "x") + "-2", uid="u-2", creationTimestamp=T1, generation=1)
    out.append(renamed)
    relabelled = copy.deepcopy(renamed)
    relabelled["metadata"].setdefault("labels", {})["extra"] = "yes"
    out.append(relabelled)
    generated = copy.deepcopy(obj)
    generated["metadata"].pop("name", None)
    generated["metadata"]["generateName"] = "gen-"
    out.append(generated)
    return out


def test_a_creates_fields_are_those_of_walking_it_whatever_was_remembered():
    """Creates remember their whole FieldsV1 by the JSON of what they can own (apply._CREATED):
    each create owns exactly what the general path (a write over an empty object) gives it,
    whether remembered or not, for every manifest in the repository and variations of them."""
    from controlplane.machinery import apply

    objects = _corpus()
    assert len(objects) > 10
    for remembered in (False, True):
        for obj in objects:
            for variant in _variants(obj):
                if not remembered:
                    apply._CREATED.clear()
                kind, version = variant["kind"], variant.get("apiVersion", "v1")
                for subresource in (None, "status"):
                    fast = apply.managed_fields_after_update(None, variant, "m", kind=kind, api_version=version,
                                                             now=T0, subresource=subresource)
                    walked = apply.managed_fields_after_update({}, variant, "m", kind=kind, api_version=version,
                                                               now=T0, subresource=subresource)
                    assert fast == walked, (kind, variant.get("metadata"), subresource)


def test_creates_of_one_template_share_one_remembered_field_set():
    from controlplane.machinery import apply

    apply._CREATED.clear()
    first, renamed, relabelled, _ = _variants(manifest())
    owned = [apply.managed_fields_after_update(None, o, "m", kind="Deployment", api_version="apps/v1", now=T0)
             for o in (first, renamed)]
    assert len(apply._CREATED) == 1 and owned[0] == owned[1]  # name, uid, timestamps own nothing
    apply.managed_fields_after_update(None, relabelled, "m", kind="Deployment", api_version="apps/v1", now=T0)
    assert len(apply._CREATED) == 2  # a label is owned: another field set
    owned[0][0]["fieldsV1"]["f:spec"].clear()  # each caller's tree is its own
    again = apply.managed_fields_after_update(None, first, "m", kind="Deployment", api_version="apps/v1", now=T0)
    assert again[0]["fieldsV1"]["f:spec"]
