"""The autoscaling/v1 Scale of a resource's scale subresource: built from the object, and read back."""

from __future__ import annotations

from typing import Any

from ..machinery.selectors import selector_to_string
from ..resources.info import ResourceInfo
from . import errors


def to_scale(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata", {})
    spec, status = obj.get("spec", {}), obj.get("status", {})
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                         "creationTimestamp") if k in md},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0),
                   "selector": selector_to_string(spec.get("selector"))},
    }


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
