"""HorizontalPodAutoscaler as a kind: v2 defaults and rules, the TARGETS column, and the lossless
v1 <-> v2 conversion through kube's autoscaling.alpha annotations."""

from __future__ import annotations

import copy
import datetime as dt

from controlplane.resources import tables
from controlplane.resources.kinds.autoscaling import HPA_V1, HPA_V2, format_targets
from controlplane.resources.kinds.hpaconversion import CONDITIONS, CURRENT_METRICS, METRICS, v1_to_v2, v2_to_v1


# scaleTargetRefs are dict() calls: test_schema_compiled takes every dict literal with apiVersion and
# kind in the tests for an object to validate.
def v2(**spec) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": dict(apiVersion="apps/v1", kind="Deployment", name="web"),
                     "maxReplicas": 5, **spec}}


def cpu(percent: int) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}


def test_defaults_min_replicas_the_cpu_metric_and_a_given_behavior():
    obj = v2(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    HPA_V2.default(obj)
    spec = obj["spec"]
    assert spec["minReplicas"] == 1 and spec["metrics"] == [cpu(80)]
    assert spec["behavior"]["scaleUp"] == {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert spec["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                                             "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    plain = v2()
    HPA_V2.default(plain)
    assert "behavior" not in plain["spec"]  # the controller's legacy rules then apply


def causes(obj: dict) -> set[tuple[str, str]]:
    HPA_V2.default(obj)
    return {(c["field"], c["reason"]) for c in HPA_V2.validate(obj)}


def test_rules():
    assert causes(v2(minReplicas=1, metrics=[cpu(50)])) == set()
    assert ("spec.maxReplicas", "FieldValueInvalid") in causes(v2(minReplicas=6))
    assert ("spec.minReplicas", "FieldValueInvalid") in causes(v2(minReplicas=0))
    assert ("spec.metrics[0].resource.target.averageUtilization", "FieldValueInvalid") in causes(v2(metrics=[cpu(0)]))
    bad_type = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Value", "value": "1"}}}
    assert ("spec.metrics[0].resource.target.type", "FieldValueNotSupported") in causes(v2(metrics=[bad_type]))
    both = {**cpu(50), "pods": {"metric": {"name": "x"}, "target": {"type": "AverageValue", "averageValue": "1"}}}
    assert ("spec.metrics[0].pods", "FieldValueInvalid") in causes(v2(metrics=[both]))
    slow = {"scaleDown": {"stabilizationWindowSeconds": 3601, "policies": [{"type": "Pods", "value": 0, "periodSeconds": 1801}]}}
    found = causes(v2(behavior=slow))
    assert {("spec.behavior.scaleDown.stabilizationWindowSeconds", "FieldValueInvalid"),
            ("spec.behavior.scaleDown.policies[0].value", "FieldValueInvalid"),
            ("spec.behavior.scaleDown.policies[0].periodSeconds", "FieldValueInvalid")} <= found
    no_ref = v2()
    del no_ref["spec"]["scaleTargetRef"]["name"]
    assert ("spec.scaleTargetRef.name", "FieldValueRequired") in causes(no_ref)


def test_targets_column_as_kubectl_prints_it():
    memory = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}
    statuses = [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40, "averageValue": "40m"}}}]
    assert format_targets([cpu(50)], []) == "cpu: <unknown>/50%"
    assert format_targets([cpu(50), memory], statuses) == "cpu: 40%/50%, memory: <unknown>/100Mi"
    assert format_targets([cpu(50)] * 3, []).endswith(" + 1 more...")
    assert format_targets([], []) == "<none>"
    table = tables.table(HPA_V2.printer, [{**v2(minReplicas=2, metrics=[cpu(50)]), "status": {"currentReplicas": 3}}],
                         now=dt.datetime.now(dt.timezone.utc))
    assert [c["name"] for c in table["columnDefinitions"]] == \
        ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"]
    assert table["rows"][0]["cells"][:6] == ["web", "Deployment/web", "cpu: <unknown>/50%", "2", 5, 3]


def stored() -> dict:
    obj = v2(minReplicas=2, metrics=[
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}}},
        cpu(50),
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}],
        behavior={"scaleDown": {"stabilizationWindowSeconds": 30}})
    obj["metadata"]["annotations"] = {"team": "a"}
    obj["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "lastScaleTime": "2026-01-01T00:00:00Z",
                     "currentMetrics": [
                         {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "30Mi"}}},
                         {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 70,
                                                                                       "averageValue": "70m"}}}],
                     "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                                     "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    return obj


def test_v2_as_v1_keeps_what_v1_has_no_field_for_in_annotations():
    obj = stored()
    before = copy.deepcopy(obj)
    old = v2_to_v1(obj)
    assert obj == before  # the stored (cached) object is not changed
    assert old["spec"] == {"scaleTargetRef": obj["spec"]["scaleTargetRef"], "minReplicas": 2, "maxReplicas": 5,
                           "targetCPUUtilizationPercentage": 50}
    assert old["status"]["currentCPUUtilizationPercentage"] == 70
    ann = old["metadata"]["annotations"]
    assert ann["team"] == "a"
    assert '"targetAverageValue":"64Mi"' in ann[METRICS] and '"metricName":"qps"' in ann[METRICS]
    assert '"currentAverageUtilization":70' in ann[CURRENT_METRICS] and CONDITIONS in ann


def test_v1_round_trip_is_lossless():
    obj = stored()
    back = v1_to_v2(v2_to_v1(obj))
    assert back["metadata"] == obj["metadata"]
    # the CPU metric comes back last, as kube converts it
    assert sorted(map(str, back["spec"]["metrics"])) == sorted(map(str, obj["spec"]["metrics"]))
    assert back["spec"]["behavior"] == obj["spec"]["behavior"]
    assert back["status"] == obj["status"]


def test_a_plain_v1_object():
    old = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 60}}
    new = HPA_V1.to_storage(old)
    assert new["apiVersion"] == "autoscaling/v2" and new["spec"]["metrics"] == [cpu(60)]
    assert "annotations" not in new["metadata"]
    assert HPA_V1.from_storage(new)["apiVersion"] == "autoscaling/v1"
