"""autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler, as kube converts them.

v1 has one metric field, `targetCPUUtilizationPercentage`, and one status field,
`currentCPUUtilizationPercentage`. Everything else v2 holds travels through v1 in the
annotations kube uses for it (`pkg/apis/autoscaling/v1/conversion.go`), in v1's older metric
shapes (targetAverageUtilization, metricName, ...):

    autoscaling.alpha.kubernetes.io/metrics          spec.metrics other than the CPU utilization one
    autoscaling.alpha.kubernetes.io/current-metrics  status.currentMetrics, all of them
    autoscaling.alpha.kubernetes.io/behavior         spec.behavior (v2's own shape)
    autoscaling.alpha.kubernetes.io/conditions       status.conditions

so an object read as v1 and written back as v1 keeps all of it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ...machinery.types import Obj

METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
_ANNOTATIONS = (METRICS, CURRENT_METRICS, BEHAVIOR, CONDITIONS)
FIELDS = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
          "Object": "object", "External": "external"}
"""A metric's type -> the field of MetricSpec / MetricStatus that holds it."""


def _some(**fields: Any) -> Obj:
    return {k: v for k, v in fields.items() if v is not None}


def _is_cpu_utilization(metric: Obj) -> bool:
    res = metric.get("resource") or {}
    return (metric.get("type") == "Resource" and res.get("name") == "cpu"
            and (res.get("target") or {}).get("averageUtilization") is not None)


# --- one metric spec / status, v2 <-> v1's older shapes ---------------------------------------

def _spec_to_v1(m: Obj) -> Obj:
    kind = m.get("type")
    out: Obj = {"type": kind}
    if kind in ("Resource", "ContainerResource"):
        field = "resource" if kind == "Resource" else "containerResource"
        src = m.get(field) or {}
        t = src.get("target") or {}
        out[field] = _some(name=src.get("name"), container=src.get("container"),
                           targetAverageUtilization=t.get("averageUtilization"),
                           targetAverageValue=t.get("averageValue"))
    elif kind == "Pods":
        src = m.get("pods") or {}
        metric = src.get("metric") or {}
        out["pods"] = _some(metricName=metric.get("name"), selector=metric.get("selector"),
                            targetAverageValue=(src.get("target") or {}).get("averageValue"))
    elif kind == "Object":
        src = m.get("object") or {}
        metric, t = src.get("metric") or {}, src.get("target") or {}
        out["object"] = _some(target=src.get("describedObject"), metricName=metric.get("name"),
                              selector=metric.get("selector"), targetValue=t.get("value"),
                              averageValue=t.get("averageValue"))
    elif kind == "External":
        src = m.get("external") or {}
        metric, t = src.get("metric") or {}, src.get("target") or {}
        out["external"] = _some(metricName=metric.get("name"), metricSelector=metric.get("selector"),
                                targetValue=t.get("value"), targetAverageValue=t.get("averageValue"))
    return out


def _spec_to_v2(m: Obj) -> Obj:
    kind = m.get("type")
    out: Obj = {"type": kind}
    if kind in ("Resource", "ContainerResource"):
        field = "resource" if kind == "Resource" else "containerResource"
        src = m.get(field) or {}
        util = src.get("targetAverageUtilization")
        target = {"type": "Utilization", "averageUtilization": util} if util is not None else \
            {"type": "AverageValue", "averageValue": src.get("targetAverageValue")}
        out[field] = _some(name=src.get("name"), container=src.get("container"), target=target)
    elif kind == "Pods":
        src = m.get("pods") or {}
        out["pods"] = {"metric": _some(name=src.get("metricName"), selector=src.get("selector")),
                       "target": {"type": "AverageValue", "averageValue": src.get("targetAverageValue")}}
    elif kind == "Object":
        src = m.get("object") or {}
        target = {"type": "AverageValue", "averageValue": src["averageValue"]} if src.get("averageValue") \
            is not None else {"type": "Value", "value": src.get("targetValue")}
        out["object"] = _some(describedObject=src.get("target"), target=target,
                              metric=_some(name=src.get("metricName"), selector=src.get("selector")))
    elif kind == "External":
        src = m.get("external") or {}
        target = {"type": "AverageValue", "averageValue": src["targetAverageValue"]} \
            if src.get("targetAverageValue") is not None else {"type": "Value", "value": src.get("targetValue")}
        out["external"] = {"metric": _some(name=src.get("metricName"), selector=src.get("metricSelector")),
                           "target": target}
    return out


def _status_to_v1(m: Obj) -> Obj:
    kind = m.get("type")
    out: Obj = {"type": kind}
    field = FIELDS.get(str(kind))
    if field is None:
        return out
    src = m.get(field) or {}
    cur, metric = src.get("current") or {}, src.get("metric") or {}
    if kind in ("Resource", "ContainerResource"):
        out[field] = _some(name=src.get("name"), container=src.get("container"),
                           currentAverageUtilization=cur.get("averageUtilization"),
                           currentAverageValue=cur.get("averageValue"))
    elif kind == "Pods":
        out[field] = _some(metricName=metric.get("name"), selector=metric.get("selector"),
                           currentAverageValue=cur.get("averageValue"))
    elif kind == "Object":
        out[field] = _some(target=src.get("describedObject"), metricName=metric.get("name"),
                           selector=metric.get("selector"), currentValue=cur.get("value"),
                           averageValue=cur.get("averageValue"))
    else:
        out[field] = _some(metricName=metric.get("name"), metricSelector=metric.get("selector"),
                           currentValue=cur.get("value"), currentAverageValue=cur.get("averageValue"))
    return out


def _status_to_v2(m: Obj) -> Obj:
    kind = m.get("type")
    out: Obj = {"type": kind}
    field = FIELDS.get(str(kind))
    if field is None:
        return out
    src = m.get(field) or {}
    if kind in ("Resource", "ContainerResource"):
        out[field] = _some(name=src.get("name"), container=src.get("container"), current=_some(
            averageUtilization=src.get("currentAverageUtilization"), averageValue=src.get("currentAverageValue")))
    elif kind == "Pods":
        out[field] = {"metric": _some(name=src.get("metricName"), selector=src.get("selector")),
                      "current": _some(averageValue=src.get("currentAverageValue"))}
    elif kind == "Object":
        out[field] = _some(describedObject=src.get("target"),
                           metric=_some(name=src.get("metricName"), selector=src.get("selector")),
                           current=_some(value=src.get("currentValue"), averageValue=src.get("averageValue")))
    else:
        out[field] = {"metric": _some(name=src.get("metricName"), selector=src.get("metricSelector")),
                      "current": _some(value=src.get("currentValue"), averageValue=src.get("currentAverageValue"))}
    return out


# --- whole objects ----------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def v2_to_v1(hpa: Obj) -> Obj:
    md = copy.deepcopy(hpa.get("metadata") or {})
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k not in _ANNOTATIONS}
    spec2, status2 = hpa.get("spec") or {}, hpa.get("status")
    metrics = [m for m in spec2.get("metrics") or [] if isinstance(m, dict)]
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    spec1: Obj = _some(scaleTargetRef=copy.deepcopy(spec2.get("scaleTargetRef")),
                       minReplicas=spec2.get("minReplicas"), maxReplicas=spec2.get("maxReplicas"))
    if cpu is not None:
        spec1["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    others = [_spec_to_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    if others:
        annotations[METRICS] = _dumps(others)
    if spec2.get("behavior") is not None:
        annotations[BEHAVIOR] = _dumps(spec2["behavior"])
    out: Obj = {"metadata": md, "spec": spec1}
    if isinstance(status2, dict):
        status1: Obj = _some(observedGeneration=status2.get("observedGeneration"),
                             lastScaleTime=status2.get("lastScaleTime"))
        status1["currentReplicas"] = status2.get("currentReplicas") or 0
        status1["desiredReplicas"] = status2.get("desiredReplicas") or 0
        current = [m for m in status2.get("currentMetrics") or [] if isinstance(m, dict)]
        for m in current:
            res = m.get("resource") or {}
            util = (res.get("current") or {}).get("averageUtilization")
            if m.get("type") == "Resource" and res.get("name") == "cpu" and util is not None:
                status1["currentCPUUtilizationPercentage"] = util
                break
        if current:
            annotations[CURRENT_METRICS] = _dumps([_status_to_v1(m) for m in current])
        if status2.get("conditions"):
            annotations[CONDITIONS] = _dumps(status2["conditions"])
        out["status"] = status1
    if annotations:
        md["annotations"] = annotations
    else:
        md.pop("annotations", None)
    return out


def v1_to_v2(hpa: Obj) -> Obj:
    md = copy.deepcopy(hpa.get("metadata") or {})
    given = md.get("annotations") or {}
    spec1, status1 = hpa.get("spec") or {}, hpa.get("status")
    spec2: Obj = _some(scaleTargetRef=copy.deepcopy(spec1.get("scaleTargetRef")),
                       minReplicas=spec1.get("minReplicas"), maxReplicas=spec1.get("maxReplicas"))
    metrics = [_spec_to_v2(m) for m in _loads(given.get(METRICS)) or [] if isinstance(m, dict)]
    if spec1.get("targetCPUUtilizationPercentage") is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": spec1["targetCPUUtilizationPercentage"]}}})
    if metrics:
        spec2["metrics"] = metrics
    behavior = _loads(given.get(BEHAVIOR))
    if isinstance(behavior, dict):
        spec2["behavior"] = behavior
    out: Obj = {"metadata": md, "spec": spec2}
    if isinstance(status1, dict):
        status2: Obj = _some(observedGeneration=status1.get("observedGeneration"),
                             lastScaleTime=status1.get("lastScaleTime"),
                             currentReplicas=status1.get("currentReplicas") or None)
        status2["desiredReplicas"] = status1.get("desiredReplicas") or 0
        current = _loads(given.get(CURRENT_METRICS))
        if isinstance(current, list):
            status2["currentMetrics"] = [_status_to_v2(m) for m in current if isinstance(m, dict)]
        elif status1.get("currentCPUUtilizationPercentage") is not None:
            status2["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": status1["currentCPUUtilizationPercentage"]}}}]
        conditions = _loads(given.get(CONDITIONS))
        if isinstance(conditions, list):
            status2["conditions"] = conditions
        out["status"] = status2
    annotations = {k: v for k, v in given.items() if k not in _ANNOTATIONS}
    if annotations:
        md["annotations"] = annotations
    else:
        md.pop("annotations", None)
    return out
