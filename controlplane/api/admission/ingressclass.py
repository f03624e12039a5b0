"""The DefaultIngressClass admission plugin: an Ingress created without a class gets the default one.

As in Kubernetes, only on create, only when neither `spec.ingressClassName` nor the legacy
`kubernetes.io/ingress.class` annotation names a class, and only when an IngressClass is
marked `ingressclass.kubernetes.io/is-default-class: "true"` (the newest, if several are).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ...machinery.ingress import class_name, default_class


def admit(obj: dict[str, Any], classes: Callable[[], Iterable[dict[str, Any]]]) -> None:
    if class_name(obj) is not None:
        return
    chosen = default_class(classes())
    spec = obj.get("spec")
    if chosen is not None and isinstance(spec, dict):
        spec["ingressClassName"] = (chosen.get("metadata") or {}).get("name")
