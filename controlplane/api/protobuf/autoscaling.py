"""Tables for autoscaling/v2 and autoscaling/v1 HorizontalPodAutoscaler (numbers from k8s.io/api
autoscaling/v2 and v1 generated.proto): `kubectl autoscale` sends a v2 one as protobuf."""

from __future__ import annotations

from .meta import QUANTITY, TIME
from .schema import I32, I64, Table, f, rep

KINDS = {"autoscaling/v2": {"HorizontalPodAutoscaler": "HorizontalPodAutoscaler"},
         "autoscaling/v1": {"HorizontalPodAutoscaler": "HorizontalPodAutoscalerV1"}}

_SOURCES = {1: f("type"), 2: f("object", "ObjectMetricSource"), 3: f("pods", "PodsMetricSource"),
            4: f("resource", "ResourceMetricSource"), 7: f("containerResource", "ContainerResourceMetricSource"),
            5: f("external", "ExternalMetricSource")}

MESSAGES: dict[str, Table] = {
    "HorizontalPodAutoscaler": {1: f("metadata", "ObjectMeta"), 2: f("spec", "HorizontalPodAutoscalerSpec"),
                                3: f("status", "HorizontalPodAutoscalerStatus")},
    "HorizontalPodAutoscalerSpec": {
        1: f("scaleTargetRef", "CrossVersionObjectReference"), 2: f("minReplicas", I32, keep=True),
        3: f("maxReplicas", I32), 4: rep("metrics", "MetricSpec"), 5: f("behavior", "HorizontalPodAutoscalerBehavior")},
    "CrossVersionObjectReference": {1: f("kind"), 2: f("name"), 3: f("apiVersion")},
    "MetricSpec": _SOURCES,
    "ResourceMetricSource": {1: f("name"), 2: f("target", "MetricTarget")},
    "ContainerResourceMetricSource": {1: f("name"), 2: f("target", "MetricTarget"), 3: f("container")},
    "PodsMetricSource": {1: f("metric", "MetricIdentifier"), 2: f("target", "MetricTarget")},
    "ObjectMetricSource": {1: f("describedObject", "CrossVersionObjectReference"), 2: f("target", "MetricTarget"),
                           3: f("metric", "MetricIdentifier")},
    "ExternalMetricSource": {1: f("metric", "MetricIdentifier"), 2: f("target", "MetricTarget")},
    "MetricIdentifier": {1: f("name"), 2: f("selector", "LabelSelector")},
    "MetricTarget": {1: f("type"), 2: f("value", QUANTITY), 3: f("averageValue", QUANTITY),
                     4: f("averageUtilization", I32, keep=True)},
    "HorizontalPodAutoscalerBehavior": {1: f("scaleUp", "HPAScalingRules"), 2: f("scaleDown", "HPAScalingRules")},
    "HPAScalingRules": {3: f("stabilizationWindowSeconds", I32, keep=True), 1: f("selectPolicy"),
                        2: rep("policies", "HPAScalingPolicy"), 4: f("tolerance", QUANTITY)},
    "HPAScalingPolicy": {1: f("type"), 2: f("value", I32), 3: f("periodSeconds", I32)},
    "HorizontalPodAutoscalerStatus": {
        1: f("observedGeneration", I64, keep=True), 2: f("lastScaleTime", TIME), 3: f("currentReplicas", I32),
        4: f("desiredReplicas", I32, keep=True), 5: rep("currentMetrics", "MetricStatus"),
        6: rep("conditions", "HorizontalPodAutoscalerCondition")},
    "MetricStatus": {1: f("type"), 2: f("object", "ObjectMetricStatus"), 3: f("pods", "PodsMetricStatus"),
                     4: f("resource", "ResourceMetricStatus"),
                     7: f("containerResource", "ContainerResourceMetricStatus"),
                     5: f("external", "ExternalMetricStatus")},
    "ResourceMetricStatus": {1: f("name"), 2: f("current", "MetricValueStatus")},
    "ContainerResourceMetricStatus": {1: f("name"), 2: f("current", "MetricValueStatus"), 3: f("container")},
    "PodsMetricStatus": {1: f("metric", "MetricIdentifier"), 2: f("current", "MetricValueStatus")},
    "ObjectMetricStatus": {1: f("metric", "MetricIdentifier"), 2: f("current", "MetricValueStatus"),
                           3: f("describedObject", "CrossVersionObjectReference")},
    "ExternalMetricStatus": {1: f("metric", "MetricIdentifier"), 2: f("current", "MetricValueStatus")},
    "MetricValueStatus": {1: f("value", QUANTITY), 2: f("averageValue", QUANTITY),
                          3: f("averageUtilization", I32, keep=True)},
    "HorizontalPodAutoscalerCondition": {1: f("type"), 2: f("status"), 3: f("lastTransitionTime", TIME),
                                         4: f("reason"), 5: f("message")},
    # autoscaling/v1
    "HorizontalPodAutoscalerV1": {1: f("metadata", "ObjectMeta"), 2: f("spec", "HorizontalPodAutoscalerSpecV1"),
                                  3: f("status", "HorizontalPodAutoscalerStatusV1")},
    "HorizontalPodAutoscalerSpecV1": {
        1: f("scaleTargetRef", "CrossVersionObjectReference"), 2: f("minReplicas", I32, keep=True),
        3: f("maxReplicas", I32), 4: f("targetCPUUtilizationPercentage", I32, keep=True)},
    "HorizontalPodAutoscalerStatusV1": {
        1: f("observedGeneration", I64, keep=True), 2: f("lastScaleTime", TIME), 3: f("currentReplicas", I32),
        4: f("desiredReplicas", I32), 5: f("currentCPUUtilizationPercentage", I32, keep=True)},
}
