"""DaemonSets, StatefulSets and ControllerRevisions as the API server takes them: the defaults
Kubernetes 1.37 fills in, its validation messages, the template generation of DaemonSets, and
the columns `kubectl get` shows."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from controlplane.resources.checks import apply_defaults, validate
from controlplane.resources.kinds.daemonset import DAEMON_SET
from controlplane.resources.kinds.statefulset import STATEFUL_SET
from controlplane.resources.tables import table

NOW = dt.datetime(2026, 11, 26, 22, 0, 0, tzinfo=dt.timezone.utc)
CONTAINER = {"name": "c", "image": "agent:1"}


def daemonset(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [CONTAINER]}},
                     **spec}}


def statefulset(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [CONTAINER]}},
                     **spec}}


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in validate(obj, old)]


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    apply_defaults(obj)
    return obj


# -- defaults --------------------------------------------------------------------------------

def test_daemonset_defaults() -> None:
    spec = defaulted(daemonset())["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["template"]["spec"]["restartPolicy"] == "Always"  # the pod template's own defaults
    on_delete = defaulted(daemonset(updateStrategy={"type": "OnDelete"}))["spec"]["updateStrategy"]
    assert on_delete == {"type": "OnDelete"}
    mine = defaulted(daemonset(updateStrategy={"rollingUpdate": {"maxSurge": "10%", "maxUnavailable": 0}}))
    assert mine["spec"]["updateStrategy"]["rollingUpdate"] == {"maxSurge": "10%", "maxUnavailable": 0}


def test_statefulset_defaults() -> None:
    claim = {"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}
    spec = defaulted(statefulset(volumeClaimTemplates=[claim]))["spec"]
    assert (spec["replicas"], spec["podManagementPolicy"], spec["revisionHistoryLimit"]) == (1, "OrderedReady", 10)
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    template, = spec["volumeClaimTemplates"]
    assert (template["apiVersion"], template["kind"], template["spec"]["volumeMode"], template["status"]) == \
        ("v1", "PersistentVolumeClaim", "Filesystem", {"phase": "Pending"})
    # OnDelete gets no rollingUpdate; a RollingUpdate without one gets none either (as kube).
    assert defaulted(statefulset(updateStrategy={"type": "OnDelete"}))["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert defaulted(statefulset(updateStrategy={"type": "RollingUpdate"}))["spec"]["updateStrategy"] == \
        {"type": "RollingUpdate"}


# -- validation ------------------------------------------------------------------------------

def test_defaulted_objects_are_valid() -> None:
    for obj in (daemonset(), statefulset()):
        assert messages(defaulted(obj)) == []


@pytest.mark.parametrize("rolling, problems", [
    ({"maxUnavailable": 0, "maxSurge": 0},
     ["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]),
    ({"maxUnavailable": 1, "maxSurge": "10%"},
     ["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 10%: may not be set when maxUnavailable is "
      "non-zero"]),
    ({"maxUnavailable": "120%", "maxSurge": 0},
     ["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 120%: must not be greater than 100%"]),
    ({"maxUnavailable": -1, "maxSurge": 0},
     ["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"]),
    ({"maxUnavailable": 0, "maxSurge": "25%"}, []),
])
def test_daemonset_rolling_update_rules(rolling: dict, problems: list[str]) -> None:
    ds = defaulted(daemonset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling}))
    assert messages(ds) == problems


def test_daemonset_rules() -> None:
    ds = defaulted(daemonset(selector={"matchLabels": {}}))
    assert "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:" \
           "[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset" in messages(ds)
    ds = defaulted(daemonset(updateStrategy={"type": "Sometimes"}))
    assert messages(ds) == ['spec.updateStrategy: Unsupported value: "Sometimes": supported values: '
                            '"RollingUpdate", "OnDelete"']
    ds = defaulted(daemonset())
    ds["spec"]["template"]["spec"].update(restartPolicy="Never", activeDeadlineSeconds=5)
    assert messages(ds) == ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
                            '"Always"',
                            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet "
                            "is not Supported"]
    old = defaulted(daemonset())
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["tier"] = "x"
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert [m.split(":")[0] for m in messages(new, old)] == ["spec.selector"]


def test_statefulset_rules() -> None:
    sts = defaulted(statefulset(podManagementPolicy="Sometimes", replicas=-1, ordinals={"start": -2},
                                persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep", "whenScaled": "Delete"},
                                updateStrategy={"type": "RollingUpdate",
                                                "rollingUpdate": {"partition": -1, "maxUnavailable": 0}}))
    assert messages(sts) == [
        "spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'",
        "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0",
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: cannot be 0",
        'spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": supported values: '
        '"Retain", "Delete"',
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "spec.ordinals.start: Invalid value: -2: must be greater than or equal to 0"]
    # A StatefulSet's name is a DNS label (its pods' hostnames derive from it).
    bad = defaulted(statefulset())
    bad["metadata"]["name"] = "db.main"
    assert messages(bad) == ['metadata.name: Invalid value: "db.main": must not contain dots']
    # Only replicas, ordinals, template, updateStrategy, the claim retention and minReadySeconds may change.
    old = defaulted(statefulset())
    for change, ok in (({"replicas": 5}, True), ({"minReadySeconds": 3}, True), ({"serviceName": "other"}, False),
                       ({"podManagementPolicy": "Parallel"}, False), ({"ordinals": {"start": 2}}, True)):
        new = copy.deepcopy(old)
        new["spec"].update(change)
        assert (messages(new, old) == []) == ok, change


def test_controller_revision_rules() -> None:
    cr = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "db-1", "namespace": "default"},
          "data": {"spec": {}}, "revision": 1}
    assert messages(cr) == []
    assert messages({**cr, "revision": -1}) == ["revision: Invalid value: -1: must be greater than or equal to 0"]
    assert [m.split(":")[0] for m in messages({k: v for k, v in cr.items() if k != "data"})] == ["data"]
    assert messages({**cr, "revision": 7}, cr) == []  # renumbered by a rollback
    assert [m.split(":")[0] for m in messages({**cr, "data": {"spec": {"x": 1}}}, cr)] == ["data"]


def test_daemonset_template_generation_follows_template_changes_only() -> None:
    ds = daemonset()
    DAEMON_SET.prepare_for_create(ds)
    DAEMON_SET.default(ds)
    assert ds["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    assert ds["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                            "numberReady": 0}
    same = copy.deepcopy(ds)
    same["spec"]["minReadySeconds"] = 5
    same["metadata"]["annotations"] = {}  # a client that dropped it gets it back
    DAEMON_SET.prepare_for_update(same, ds)
    assert same["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "1"
    changed = copy.deepcopy(same)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
    DAEMON_SET.prepare_for_update(changed, same)
    assert changed["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    sts = statefulset()
    STATEFUL_SET.prepare_for_create(sts)
    assert sts["status"] == {"replicas": 0, "availableReplicas": 0}


# -- tables ----------------------------------------------------------------------------------

def rows(kind, obj: dict[str, Any]) -> list[Any]:
    return table(kind.printer, [obj], now=NOW)["rows"][0]["cells"]


def test_daemonset_row() -> None:
    ds = defaulted(daemonset())
    ds["metadata"]["creationTimestamp"] = "2026-11-26T21:00:00Z"
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"role": "edge", "disk": "ssd"}
    ds["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                    "updatedNumberScheduled": 1, "numberAvailable": 2, "numberMisscheduled": 0}
    assert rows(DAEMON_SET, ds) == ["agent", 3, 3, 2, 1, 2, "disk=ssd,role=edge", "60m", "c", "agent:1", "app=agent"]
    defs = table(DAEMON_SET.printer, [], now=NOW)["columnDefinitions"]
    assert [(d["name"], d["priority"]) for d in defs] == [
        ("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0),
        ("Node Selector", 0), ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1)]
    bare = defaulted(daemonset())
    bare.pop("status", None)
    assert rows(DAEMON_SET, bare)[1:7] == [0, 0, 0, 0, 0, "<none>"]


def test_statefulset_and_controller_revision_rows() -> None:
    from controlplane.resources.kinds.controllerrevision import CONTROLLER_REVISION
    sts = defaulted(statefulset(replicas=3))
    sts["status"] = {"replicas": 3, "readyReplicas": 2}
    assert rows(STATEFUL_SET, sts) == ["db", "2/3", "<unknown>", "c", "agent:1"]
    assert [d["name"] for d in table(STATEFUL_SET.printer, [], now=NOW)["columnDefinitions"]] == \
        ["Name", "Ready", "Age", "Containers", "Images"]
    cr = {"metadata": {"name": "db-7b9c", "creationTimestamp": "2026-11-26T21:59:00Z",
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                            "uid": "u", "controller": True}]}, "data": {}, "revision": 4}
    assert rows(CONTROLLER_REVISION, cr) == ["db-7b9c", "statefulset.apps/db", 4, "60s"]
    cr["metadata"]["ownerReferences"] = []
    assert rows(CONTROLLER_REVISION, cr)[1] == "<none>"
