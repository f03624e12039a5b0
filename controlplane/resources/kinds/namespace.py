"""Namespaces (v1): the `kubernetes` finalizer, and deletion that waits for the namespace to empty.

A Namespace being deleted turns Terminating and stays while `spec.finalizers` is not empty: the
namespace controller deletes its content, then removes the `kubernetes` finalizer through the
namespaces/finalize subresource.
"""

from __future__ import annotations

from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str, child, fill
from ..info import STATUS, ResourceInfo, subresource
from ..kind import Kind
from ..rules import finalizer
from ..tables import AGE, NAME, Column, Printer
from ..validation import Cause, dns1123_label


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    metadata = as_dict(obj.get("metadata"))
    # The "kubernetes" finalizer is what the namespace controller removes once the namespace is
    # empty; re-adding it to a namespace being deleted would block that deletion forever.
    if spec is not None and not metadata.get("deletionTimestamp"):
        if spec.get("finalizers") is None:
            spec["finalizers"] = []
        if isinstance(spec["finalizers"], list) and "kubernetes" not in spec["finalizers"]:
            spec["finalizers"].append("kubernetes")
    status = child(obj, "status")
    if status is not None:
        fill(status, "phase", "Active")


def _rules(obj: Obj) -> list[Cause]:
    return [c for f in as_list(as_dict(obj.get("spec")).get("finalizers"))
            for c in finalizer(as_str(f), "spec.finalizers", "spec.finalizers")]


class NamespaceKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {}  # phase Active comes with the defaults

    def deletion_held(self, obj: Obj) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def mark_deleting(self, obj: Obj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"


NAMESPACE_PRINTER = Printer((
    NAME,
    Column("Status", lambda r: r.status.get("phase", ""), description="The status of the namespace"),
    AGE,
))

NAMESPACE = NamespaceKind(
    ResourceInfo("", "v1", "namespaces", "Namespace", "namespace", False, ("ns",),
                 subresources=(STATUS, subresource("finalize", "Namespace", ("update",))), has_status=True,
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    printer=NAMESPACE_PRINTER, default=_default, rules=(_rules,), name_check=dns1123_label)
