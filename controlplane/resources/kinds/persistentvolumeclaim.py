"""PersistentVolumeClaims (v1): defaults, rules, the table, and what may change after create.

ValidatePersistentVolumeClaim(Update) as kube-apiserver has it: access modes, a positive
`storage` request, a valid selector and data source; afterwards the spec is immutable but for
volumeName (set once, by the binder), a storageClassName set where there was none (the
retroactive default class) and a larger request of a bound claim (expansion, which admission
checks against the class).
"""

from __future__ import annotations

from ...machinery import volumes as v
from ...machinery.types import Obj
from ..fields import as_dict, as_str, child, fill, normalized
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import selector_errors
from ..tables import AGE, NAME, Column, Printer, Row, or_
from ..validation import Cause, dns1123_subdomain, forbidden, invalid, parse_quantity, required
from .persistentvolume import access_modes, class_name, positive_quantity, volume_mode, volume_mode_unchanged
from .pod import _diff as spec_changes


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is not None:
        fill(spec, "volumeMode", v.FILESYSTEM)
    status = child(obj, "status")
    if status is not None:
        fill(status, "phase", v.PENDING)


def _data_source(source: Obj, path: str, namespaced: bool) -> list[Cause]:
    out = [required(f"{path}.{k}") for k in ("name", "kind") if not as_str(source.get(k))]
    group = as_str(source.get("apiGroup"))
    if not group and as_str(source.get("kind")) != "PersistentVolumeClaim":
        out.append(invalid(path, as_str(source.get("kind")),
                           "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
    if group:
        out += [invalid(f"{path}.apiGroup", group, m) for m in dns1123_subdomain(group)]
    if namespaced and as_str(source.get("namespace")):
        out += [invalid(f"{path}.namespace", source["namespace"], m) for m in dns1123_subdomain(source["namespace"])]
    return out


def claim_spec(spec: Obj, path: str) -> list[Cause]:
    """ValidatePersistentVolumeClaimSpec: for claims and for claim templates (StatefulSets)."""
    out = access_modes(spec, path, "at least 1 access mode is required")
    if isinstance(spec.get("selector"), dict):
        out += selector_errors(spec["selector"], f"{path}.selector")
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        out.append(required(f"{path}.resources[storage]"))
    else:
        out += positive_quantity(requests["storage"], f"{path}.resources[storage]")
    out += class_name(spec, path) + volume_mode(spec, path)
    for key, namespaced in (("dataSource", False), ("dataSourceRef", True)):
        if isinstance(spec.get(key), dict):
            out += _data_source(spec[key], f"{path}.{key}", namespaced)
    return out


def _rules(obj: Obj) -> list[Cause]:
    return claim_spec(as_dict(obj.get("spec")), "spec")


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = dict(as_dict(new.get("spec"))), dict(as_dict(old.get("spec")))
    if not as_str(os_.get("volumeName")):
        os_["volumeName"] = ns.get("volumeName")  # the binder sets it, once
    if os_.get("storageClassName") is None and ns.get("storageClassName") is not None:
        beta = v.annotations_of(old).get(v.BETA_CLASS)
        if beta is None or beta == ns["storageClassName"]:
            os_["storageClassName"] = ns["storageClassName"]  # the retroactive default class
    new_size = parse_quantity(as_dict(as_dict(ns.get("resources")).get("requests")).get("storage"))
    old_size = parse_quantity(as_dict(as_dict(os_.get("resources")).get("requests")).get("storage"))
    bound = as_dict(new.get("status")).get("phase") == v.BOUND
    if bound and isinstance(ns.get("resources"), dict):  # expansion: the size may change (admission checks it)
        resources = dict(ns["resources"])
        resources["requests"] = {**as_dict(resources.get("requests")),
                                 "storage": as_dict(as_dict(os_.get("resources")).get("requests")).get("storage")}
        ns["resources"] = resources
    ns.pop("volumeAttributesClassName", None)
    os_.pop("volumeAttributesClassName", None)
    out: list[Cause] = []
    if normalized(ns) != normalized(os_):
        changes: list[str] = []
        spec_changes(normalized(os_), normalized(ns), "spec", changes)
        out.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                     "volumeAttributesClassName for bound claims\n" + "\n".join(changes[:10])))
    if new_size is not None and old_size is not None and new_size < old_size:
        out.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    return out + volume_mode_unchanged(new, old)


# --- the table (printPersistentVolumeClaim) -----------------------------------------------------

def _bound(r: Row) -> bool:
    return bool(r.spec.get("volumeName"))


PRINTER = Printer((
    NAME,
    Column("Status", lambda r: "Terminating" if r.meta.get("deletionTimestamp") else r.status.get("phase") or "",
           description="phase represents the current phase of PersistentVolumeClaim."),
    Column("Volume", lambda r: r.spec.get("volumeName") or "",
           description="volumeName is the binding reference to the PersistentVolume backing this claim."),
    Column("Capacity", lambda r: str((r.status.get("capacity") or {}).get("storage", "")) if _bound(r) else "",
           description="capacity represents the actual resources of the underlying volume."),
    Column("Access Modes", lambda r: v.access_modes_string(r.status.get("accessModes")) if _bound(r) else "",
           description="accessModes contains the actual access modes the volume backing the PVC has. More info: "
                       "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"),
    Column("StorageClass", lambda r: v.class_of(r.obj), description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", lambda r: or_(r.spec.get("volumeAttributesClassName"), "<unset>"),
           description="VolumeAttributesClass of the pvc"),
    AGE,
    Column("VolumeMode", lambda r: or_(r.spec.get("volumeMode"), "<unset>"), priority=1,
           description="volumeMode defines what type of volume is required by the claim. Value of Filesystem is "
                       "implied when not included in claim spec."),
))


PERSISTENT_VOLUME_CLAIM = Kind(
    ResourceInfo("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", True,
                 ("pvc",), subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,))
