"""CustomResourceDefinitions (apiextensions.k8s.io/v1): the kind that makes new kinds.

Defaults and validation (custom/crdcheck.py) as kube-apiserver has them; status.storedVersions
kept by the strategy; a delete first marks the CRD Terminating with the
`customresourcecleanup.apiextensions.k8s.io` finalizer, which the API server removes once every
object of the CRD is gone (api/crds.py). The kinds a CRD serves are `custom.kind.CustomKind`s.
"""

from __future__ import annotations

from ...machinery.meta import now_rfc3339
from ...machinery.types import Obj
from ..custom.crdcheck import crd_causes, crd_update_causes
from ..custom.kind import storage_version
from ..fields import as_dict, as_list, as_str, dicts
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..tables import CREATED_AT, NAME, Printer

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def condition(crd: Obj, type_: str) -> Obj | None:
    for c in dicts(as_dict(crd.get("status")).get("conditions")):
        if c.get("type") == type_:
            return c
    return None


def is_true(crd: Obj, type_: str) -> bool:
    c = condition(crd, type_)
    return c is not None and c.get("status") == "True"


def set_condition(crd: Obj, type_: str, status: str, reason: str, message: str) -> None:
    """Set one condition in place; its lastTransitionTime moves only when its status does."""
    st = crd.setdefault("status", {})
    conditions = [c for c in dicts(st.get("conditions"))]
    old = next((c for c in conditions if c.get("type") == type_), None)
    new = {"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == status
           and old.get("lastTransitionTime") else now_rfc3339()}
    st["conditions"] = [new if c is old else c for c in conditions] if old else conditions + [new]


def _default(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}


class CustomResourceDefinitionKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        stored = storage_version(obj)
        obj["status"] = {"acceptedNames": {"kind": "", "plural": ""},
                         "storedVersions": [stored] if stored else []}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        stored = storage_version(new)
        status = new.setdefault("status", {})
        versions = [as_str(v) for v in as_list(status.get("storedVersions"))]
        if stored and stored not in versions:
            status["storedVersions"] = versions + [stored]

    def deletion_held(self, obj: Obj) -> bool:
        # The first delete only marks it (mark_deleting adds the cleanup finalizer).
        return not as_dict(obj.get("metadata")).get("deletionTimestamp")

    def mark_deleting(self, obj: Obj) -> None:
        md = obj.setdefault("metadata", {})
        finalizers = [f for f in as_list(md.get("finalizers"))]
        if CLEANUP_FINALIZER not in finalizers:
            md["finalizers"] = finalizers + [CLEANUP_FINALIZER]
        set_condition(obj, "Terminating", "True", "InstanceDeletionPending",
                      "CustomResourceDefinition marked for deletion; instance deletion pending")


CUSTOM_RESOURCE_DEFINITION = CustomResourceDefinitionKind(
    ResourceInfo("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                 "customresourcedefinition", False, ("crd", "crds"), ("api-extensions",),
                 subresources=(STATUS,), has_status=True),
    printer=Printer((NAME, CREATED_AT)), default=_default, rules=(crd_causes,), update_rules=(crd_update_causes,))
