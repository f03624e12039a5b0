"""HorizontalPodAutoscaler: autoscaling/v2 (stored), and autoscaling/v1 converted from it.

Defaults from `pkg/apis/autoscaling/v2/defaults.go` (minReplicas 1; an 80% CPU utilization
metric when none is given; a given `behavior` filled with the scale-up rules 0 s / 4 pods or
100% per 15 s / Max, and the scale-down rules 100% per 15 s / Max, the scale-down window left
to the controller's flag), rules from `pkg/apis/autoscaling/validation`, columns from kubectl's
printHorizontalPodAutoscaler. The v1 <-> v2 conversion is hpaconversion.py's.
"""

from __future__ import annotations

import copy
from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, child, dicts, fill
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..tables import AGE, NAME, Column, Printer, Row
from ..validation import Cause, invalid, not_supported, parse_quantity, required
from ..versions import ConvertedKind
from .hpaconversion import FIELDS, v1_to_v2, v2_to_v1

SOURCES = FIELDS
TARGET_TYPES = ("Utilization", "Value", "AverageValue")
MAX_WINDOW, MAX_PERIOD = 3600, 1800

SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
DEFAULT_METRIC = {"type": "Resource",
                  "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}


# --- defaults -------------------------------------------------------------------------------

def _rules_with_defaults(given: Any, defaults: Obj) -> Obj:
    out = copy.deepcopy(defaults)
    for key, value in as_dict(given).items():
        if value is not None:
            out[key] = value
    return out


def default_v2(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    fill(spec, "minReplicas", 1)
    if not as_list(spec.get("metrics")):
        spec["metrics"] = [copy.deepcopy(DEFAULT_METRIC)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _rules_with_defaults(behavior.get("scaleUp"), SCALE_UP)
        behavior["scaleDown"] = _rules_with_defaults(behavior.get("scaleDown"), SCALE_DOWN)


# --- rules ----------------------------------------------------------------------------------

def _positive_quantity(value: Any, path: str) -> list[Cause]:
    q = parse_quantity(value)
    return [invalid(path, value, "must be positive")] if q is None or q <= 0 else []


def _target(target: Obj, path: str, allowed: tuple[str, ...]) -> list[Cause]:
    kind = target.get("type")
    if not kind:
        return [required(f"{path}.type", "must specify a metric target type")]
    if kind not in allowed:
        return [not_supported(f"{path}.type", kind, list(allowed))]
    out: list[Cause] = []
    if kind == "Utilization":
        value = as_int(target.get("averageUtilization"))
        if value is None:
            out.append(required(f"{path}.averageUtilization", "must set either a target raw value or a "
                                "target utilization"))
        elif value <= 0:
            out.append(invalid(f"{path}.averageUtilization", value, "must be greater than 0"))
    elif kind == "AverageValue":
        if target.get("averageValue") is None:
            out.append(required(f"{path}.averageValue", "must set either a target raw value or a "
                                "target utilization"))
        else:
            out += _positive_quantity(target["averageValue"], f"{path}.averageValue")
    elif target.get("value") is None:
        out.append(required(f"{path}.value", "must set either a target value or averageValue"))
    else:
        out += _positive_quantity(target["value"], f"{path}.value")
    return out


def _metric(metric: Obj, path: str) -> list[Cause]:
    kind = metric.get("type")
    if not kind:
        return [required(f"{path}.type", "must specify a metric source type")]
    if kind not in SOURCES:
        return [not_supported(f"{path}.type", kind, sorted(SOURCES))]
    field = SOURCES[kind]
    others = [f for f in SOURCES.values() if f != field and metric.get(f) is not None]
    if others:
        return [invalid(f"{path}.{others[0]}", "", "must populate the given metric source only")]
    source = metric.get(field)
    if not isinstance(source, dict):
        return [required(f"{path}.{field}", "must populate information for the given metric source")]
    spath = f"{path}.{field}"
    out: list[Cause] = []
    if kind in ("Resource", "ContainerResource"):
        if not as_str(source.get("name")):
            out.append(required(f"{spath}.name", "must specify a resource name"))
        if kind == "ContainerResource" and not as_str(source.get("container")):
            out.append(required(f"{spath}.container", "must specify a container"))
        return out + _target(as_dict(source.get("target")), f"{spath}.target", ("Utilization", "AverageValue"))
    if not as_str(as_dict(source.get("metric")).get("name")):
        out.append(required(f"{spath}.metric.name", "must specify a metric name"))
    allowed = ("AverageValue",) if kind == "Pods" else ("Value", "AverageValue")
    return out + _target(as_dict(source.get("target")), f"{spath}.target", allowed)


def _scaling_rules(rules: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    window = as_int(rules.get("stabilizationWindowSeconds"))
    if window is not None and not 0 <= window <= MAX_WINDOW:
        out.append(invalid(f"{path}.stabilizationWindowSeconds", window,
                           f"must be less than or equal to {MAX_WINDOW}" if window > 0 else
                           "must be greater than or equal to zero"))
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Max", "Min", "Disabled"):
        out.append(not_supported(f"{path}.selectPolicy", select, ["Disabled", "Max", "Min"]))
    policies = dicts(rules.get("policies"))
    if rules.get("policies") is not None and not policies:
        out.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        ppath = f"{path}.policies[{i}]"
        if policy.get("type") not in ("Pods", "Percent"):
            out.append(not_supported(f"{ppath}.type", policy.get("type"), ["Percent", "Pods"]))
        value = as_int(policy.get("value"))
        if value is None or value <= 0:
            out.append(invalid(f"{ppath}.value", policy.get("value"), "must be greater than zero"))
        period = as_int(policy.get("periodSeconds"))
        if period is None or period <= 0:
            out.append(invalid(f"{ppath}.periodSeconds", policy.get("periodSeconds"), "must be greater than zero"))
        elif period > MAX_PERIOD:
            out.append(invalid(f"{ppath}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD}"))
    return out


def _rules_v2(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    ref = as_dict(spec.get("scaleTargetRef"))
    if not as_str(ref.get("kind")):
        out.append(required("spec.scaleTargetRef.kind"))
    if not as_str(ref.get("name")):
        out.append(required("spec.scaleTargetRef.name"))
    elif "/" in ref["name"] or ref["name"] in (".", ".."):
        out.append(invalid("spec.scaleTargetRef.name", ref["name"], "may not contain '/'"))
    min_r, max_r = as_int(spec.get("minReplicas")), as_int(spec.get("maxReplicas"))
    if min_r is not None and min_r < 1:
        out.append(invalid("spec.minReplicas", min_r, "must be greater than or equal to 1"))
    if max_r is None or max_r < 1:
        out.append(invalid("spec.maxReplicas", spec.get("maxReplicas"), "must be greater than 0"))
    elif min_r is not None and max_r < min_r:
        out.append(invalid("spec.maxReplicas", max_r, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(dicts(spec.get("metrics"))):
        out += _metric(metric, f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for direction in ("scaleUp", "scaleDown"):
            if isinstance(behavior.get(direction), dict):
                out += _scaling_rules(behavior[direction], f"spec.behavior.{direction}")
    return out


# --- the table ------------------------------------------------------------------------------

def _quantity(value: Any) -> str:
    return str(value) if value not in (None, "") else "<unknown>"


def format_targets(specs: list[Obj], statuses: list[Obj]) -> str:
    """kubectl's formatHPAMetrics: `cpu: 40%/50%`, at most two, then `+ N more...`."""
    if not specs:
        return "<none>"
    parts = []
    for i, spec in enumerate(specs):
        status = statuses[i] if i < len(statuses) else {}
        kind = spec.get("type")
        field = SOURCES.get(as_str(kind), "")
        source, current_of = as_dict(spec.get(field)), as_dict(as_dict(status.get(field)).get("current"))
        target = as_dict(source.get("target"))
        if kind in ("Resource", "ContainerResource"):
            if target.get("averageValue") is not None:
                parts.append(f"{source.get('name')}: {_quantity(current_of.get('averageValue'))}/{target['averageValue']}")
            else:
                util = current_of.get("averageUtilization")
                want = target.get("averageUtilization")
                parts.append(f"{source.get('name')}: {'<unknown>' if util is None else f'{util}%'}/"
                             f"{'<auto>' if want is None else f'{want}%'}")
        elif kind == "Pods":
            parts.append(f"{_quantity(current_of.get('averageValue'))}/{target.get('averageValue')}")
        elif kind in ("Object", "External") and target.get("averageValue") is not None:
            parts.append(f"{_quantity(current_of.get('averageValue'))}/{target['averageValue']} (avg)")
        elif kind in ("Object", "External"):
            parts.append(f"{_quantity(current_of.get('value'))}/{target.get('value')}")
        else:
            parts.append("<unknown type>")
    more = len(parts) - 2
    return ", ".join(parts[:2]) + (f" + {more} more..." if more > 0 else "")


def _reference(r: Row) -> str:
    ref = as_dict(r.spec.get("scaleTargetRef"))
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


PRINTER = Printer((
    NAME,
    Column("Reference", _reference, description="Reference to the scaled target (kind/name)"),
    Column("Targets", lambda r: format_targets(dicts(r.spec.get("metrics")), dicts(r.status.get("currentMetrics"))),
           description="Current and target value of each metric"),
    Column("MinPods", lambda r: "<unset>" if r.spec.get("minReplicas") is None else str(r.spec["minReplicas"]),
           description="Lower limit for the number of pods that can be set by the autoscaler, default 1."),
    Column("MaxPods", lambda r: as_int(r.spec.get("maxReplicas")) or 0, type="integer",
           description="Upper limit for the number of pods that can be set by the autoscaler; cannot be "
                       "smaller than MinReplicas."),
    Column("Replicas", lambda r: as_int(r.status.get("currentReplicas")) or 0, type="integer",
           description="Current number of replicas of pods managed by this autoscaler."),
    AGE,
))

_INFO = dict(namespaced=True, short_names=("hpa",), categories=("all",), subresources=(STATUS,), has_status=True)

HPA_V2 = Kind(ResourceInfo("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                           "horizontalpodautoscaler", **_INFO),  # type: ignore[arg-type]
              printer=PRINTER, default=default_v2, rules=(_rules_v2,),
              initial_status={"desiredReplicas": 0})  # currentReplicas is omitempty in v2

HPA_V1 = ConvertedKind(ResourceInfo("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                                    "horizontalpodautoscaler", **_INFO),  # type: ignore[arg-type]
                       HPA_V2, to_storage=v1_to_v2, from_storage=v2_to_v1)
