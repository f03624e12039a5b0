"""The HorizontalPodAutoscaler describer, laid out as kubectl's describeHorizontalPodAutoscalerV2."""

from __future__ import annotations

from typing import Any

from .. import humanize
from . import Context, Writer, annotations_multiline, describer, events_section, labels_multiline, meta_of


def _current(statuses: list[Any], i: int, field: str) -> dict[str, Any]:
    status = statuses[i] if i < len(statuses) and isinstance(statuses[i], dict) else {}
    return (status.get(field) or {}).get("current") or {}


def _metric(w: Writer, metric: dict[str, Any], statuses: list[Any], i: int) -> None:
    kind = metric.get("type")
    unknown = "<unknown>"
    if kind in ("Resource", "ContainerResource"):
        field = "resource" if kind == "Resource" else "containerResource"
        source = metric.get(field) or {}
        target, current = source.get("target") or {}, _current(statuses, i, field)
        if kind == "Resource":
            w.write(1, f"resource {source.get('name', '')} on pods")
        else:
            w.write(1, f'resource {source.get("name", "")} of container "{source.get("container", "")}" on pods')
        if target.get("averageValue") is not None:
            w.write(0, f":\t{current.get('averageValue', unknown)} / {target['averageValue']}\n")
            return
        shown = f"{current['averageUtilization']}% ({current.get('averageValue', '')})" \
            if current.get("averageUtilization") is not None else unknown
        want = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
        w.write(1, f"(as a percentage of request):\t{shown} / {want}\n")
    elif kind == "Pods":
        source = metric.get("pods") or {}
        current = _current(statuses, i, "pods")
        w.write(1, f'"{(source.get("metric") or {}).get("name", "")}" on pods:\t'
                   f"{current.get('averageValue', unknown)} / {(source.get('target') or {}).get('averageValue')}\n")
    elif kind in ("Object", "External"):
        field = kind.lower()
        source, current = metric.get(field) or {}, _current(statuses, i, field)
        target, name = source.get("target") or {}, (source.get("metric") or {}).get("name", "")
        if kind == "Object":
            described = source.get("describedObject") or {}
            w.write(1, f'"{name}" on {described.get("kind", "")}/{described.get("name", "")} ')
            prefix, level = "", 0
        else:
            prefix, level = f'"{name}" ', 1
        if target.get("type") == "AverageValue" or (kind == "External" and target.get("averageValue") is not None):
            w.write(level, f"{prefix}(target average value):\t{current.get('averageValue', unknown)} / "
                           f"{target.get('averageValue')}\n")
        else:
            w.write(level, f"{prefix}(target value):\t{current.get('value', unknown)} / {target.get('value')}\n")
    else:
        w.write(1, f'<unknown metric type "{kind}">\n')


def _direction(w: Writer, title: str, rules: Any) -> None:
    if not isinstance(rules, dict):
        return
    w.write(1, f"{title}:\n")
    if rules.get("stabilizationWindowSeconds") is not None:
        w.write(2, f"Stabilization Window: {rules['stabilizationWindowSeconds']} seconds\n")
    if rules.get("policies"):
        w.write(2, f"Select Policy: {rules.get('selectPolicy') or 'Max'}\n")
        w.write(2, "Policies:\n")
        for p in rules["policies"]:
            w.write(3, f"- Type: {p.get('type', '')}\tValue: {p.get('value', 0)}\tPeriod: "
                       f"{p.get('periodSeconds', 0)} seconds\n")


@describer("autoscaling", "HorizontalPodAutoscaler")
def horizontal_pod_autoscaler(ctx: Context, obj: dict[str, Any]) -> str:
    if obj.get("apiVersion") != "autoscaling/v2":  # a v1 object: describe what the server stores
        md = meta_of(obj)
        obj = ctx.get(f"/apis/autoscaling/v2/namespaces/{md.get('namespace', '')}/horizontalpodautoscalers/"
                      f"{md.get('name', '')}")
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{humanize.rfc1123z(meta.get('creationTimestamp'))}\n")
    w.write(0, f"Reference:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
    w.write(0, "Metrics:\t( current / target )\n")
    statuses = status.get("currentMetrics") or []
    for i, metric in enumerate(spec.get("metrics") or []):
        _metric(w, metric, statuses, i)
    w.write(0, f"Min replicas:\t{'<unset>' if spec.get('minReplicas') is None else spec['minReplicas']}\n")
    w.write(0, f"Max replicas:\t{spec.get('maxReplicas', 0)}\n")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        w.write(0, "Behavior:\n")
        _direction(w, "Scale Up", behavior.get("scaleUp"))
        _direction(w, "Scale Down", behavior.get("scaleDown"))
    w.write(0, f"{ref.get('kind', '')} pods:\t")
    w.write(0, f"{status.get('currentReplicas', 0)} current / {status.get('desiredReplicas', 0)} desired\n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tReason\tMessage\n")
        w.write(1, "----\t------\t------\t-------\n")
        for c in status["conditions"]:
            w.write(1, f"{c.get('type', '')}\t{c.get('status', '')}\t{c.get('reason', '')}\t{c.get('message', '')}\n")
    events_section(w, ctx.events(obj))
    return w.text()
