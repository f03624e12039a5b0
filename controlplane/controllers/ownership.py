"""Controllers and what they own: the controller reference, the owner reference a controller
writes on what it creates, the label selector of a controller's spec."""

from __future__ import annotations

from ..machinery.selectors import LabelSelector, SelectorError, label_selector_from_spec
from ..machinery.types import Obj

STATUS_BATCH = 0.05  # seconds: changes of an owner's pods within this window share one sync


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with controller: true, if any."""
    return next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None)


def owner_reference(owner: Obj, kind: str, api_version: str) -> Obj:
    """What a controller puts on an object it creates: it controls it, and blocks its deletion."""
    md = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def selector_of(obj: Obj) -> LabelSelector:
    """The label selector in spec.selector; one that matches nothing when it is invalid."""
    try:
        return label_selector_from_spec((obj.get("spec") or {}).get("selector"))
    except SelectorError:
        return LabelSelector.nothing()
