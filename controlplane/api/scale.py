"""The autoscaling/v1 Scale of a resource's scale subresource: built from the object, and read back.

Built-in kinds keep their replicas at spec.replicas / status.replicas with a label selector
at spec.selector; a CRD's scale subresource names its own paths (specReplicasPath,
statusReplicasPath, labelSelectorPath: a serialized selector string).
"""

from __future__ import annotations

from typing import Any

from ..machinery.selectors import selector_to_string
from ..resources import registry
from ..resources.info import ResourceInfo
from . import errors


def _paths(info: ResourceInfo) -> tuple[str, str, str] | None:
    """A custom kind's (spec, status, selector) paths; None for built-in kinds."""
    return getattr(registry.kind_of(info), "scale", None) if info.custom else None


def _get(obj: Any, path: str) -> Any:
    for part in path.lstrip(".").split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def to_scale(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata", {})
    paths = _paths(info)
    selector: Any
    if paths is None:
        spec, status = obj.get("spec", {}), obj.get("status", {})
        replicas, current = spec.get("replicas", 1), status.get("replicas", 0)
        selector = selector_to_string(registry.kind_of(info).pod_selector(obj))
    else:
        replicas, current = _get(obj, paths[0]) or 0, _get(obj, paths[1]) or 0
        selector = _get(obj, paths[2]) if paths[2] else None
    out_status: dict[str, Any] = {"replicas": current}
    if selector or paths is None:
        out_status["selector"] = selector or ""
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                         "creationTimestamp") if k in md},
        "spec": {"replicas": replicas},
        "status": out_status,
    }


def set_replicas(info: ResourceInfo, obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    """`obj` (owned, changed in place) with its desired replicas set."""
    paths = _paths(info)
    parts = (paths[0] if paths is not None else ".spec.replicas").lstrip(".").split(".")
    node = obj
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = replicas
    return obj


def replicas_of(scale: dict[str, Any]) -> int:
    """spec.replicas of a Scale a client sent; 422 unless a non-negative integer."""
    value = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise errors.ApiError(422, f'Scale.autoscaling "{scale.get("metadata", {}).get("name", "")}" '
                                   f"is invalid: spec.replicas: Invalid value: {value!r}: must be "
                                   "greater than or equal to 0", "Invalid",
                              {"kind": "Scale", "group": "autoscaling",
                               "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                           "message": f"Invalid value: {value!r}: must be greater "
                                                      "than or equal to 0"}]})
    return value
