"""StorageClasses (storage.k8s.io/v1, cluster-scoped): defaults, rules and the table.

Defaults and rules of kube's `pkg/apis/storage`: reclaimPolicy Delete, volumeBindingMode
Immediate; a qualified provisioner name; parameters, provisioner and reclaimPolicy that never
change, an immutable binding mode. The default class (`storageclass.kubernetes.io/is-default-class`)
is shown as `NAME (default)`.
"""

from __future__ import annotations

from ...machinery import volumes as v
from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str, fill, normalized
from ..info import ResourceInfo
from ..kind import Kind
from ..rules import name_errors
from ..tables import AGE, Column, Printer, Row
from ..validation import Cause, forbidden, invalid, not_supported, qualified_name, required, too_long

RECLAIM_POLICIES = [v.DELETE, v.RETAIN]
BINDING_MODES = [v.IMMEDIATE, v.WAIT_FOR_FIRST_CONSUMER]
MAX_PARAMETERS = 512
MAX_PARAMETERS_SIZE = 256 * 1024


def _default(obj: Obj) -> None:
    fill(obj, "reclaimPolicy", v.DELETE)
    fill(obj, "volumeBindingMode", v.IMMEDIATE)


def _rules(obj: Obj) -> list[Cause]:
    provisioner = as_str(obj.get("provisioner"))
    out = name_errors("provisioner", provisioner.lower(), qualified_name) if provisioner else [required("provisioner")]
    params = as_dict(obj.get("parameters"))
    if len(params) > MAX_PARAMETERS:
        out.append(too_long("parameters", MAX_PARAMETERS))
    elif sum(len(k) + len(as_str(val)) for k, val in params.items()) > MAX_PARAMETERS_SIZE:
        out.append(too_long("parameters", MAX_PARAMETERS_SIZE))
    out += [invalid("parameters", k, "field can not be empty.") for k in params if not k]
    policy = obj.get("reclaimPolicy")
    if as_str(policy) and policy not in RECLAIM_POLICIES:
        out.append(not_supported("reclaimPolicy", policy, RECLAIM_POLICIES))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        out.append(required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        out.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
    for i, term in enumerate(as_list(obj.get("allowedTopologies"))):
        exprs = as_list(as_dict(term).get("matchLabelExpressions"))
        if not exprs:
            out.append(required(f"allowedTopologies[{i}].matchLabelExpressions", "must have at least one label expression"))
        for j, e in enumerate(exprs):
            e, p = as_dict(e), f"allowedTopologies[{i}].matchLabelExpressions[{j}]"
            out += name_errors(f"{p}.key", as_str(e.get("key")), qualified_name)
            if not as_list(e.get("values")):
                out.append(required(f"{p}.values", "must specify as least one value"))
    return out


def _update_rules(new: Obj, old: Obj) -> list[Cause]:
    out: list[Cause] = []
    if normalized(new.get("parameters")) != normalized(old.get("parameters")):
        out.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        out.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        out.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
        out.append(invalid("volumeBindingMode", new.get("volumeBindingMode"), "field is immutable"))
    return out


def _name(r: Row) -> str:
    name = r.meta.get("name", "")
    return f"{name} (default)" if v.is_default_class(r.obj) else name


PRINTER = Printer((
    Column("Name", _name, format="name", description=(
        "Name must be unique within a namespace. Is required when creating resources, although some resources "
        "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
        "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")),
    Column("Provisioner", lambda r: r.obj.get("provisioner") or "",
           description="provisioner indicates the type of the provisioner."),
    Column("ReclaimPolicy", lambda r: r.obj.get("reclaimPolicy") or v.DELETE,
           description="reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of "
                       "this storage class. Defaults to Delete."),
    Column("VolumeBindingMode", lambda r: r.obj.get("volumeBindingMode") or v.IMMEDIATE,
           description="volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  "
                       "When unset, VolumeBindingImmediate is used. This field is only honored by servers that "
                       "enable the VolumeScheduling feature."),
    Column("AllowVolumeExpansion", lambda r: r.obj.get("allowVolumeExpansion") is True, type="string",
           description="allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
))

STORAGE_CLASS = Kind(
    ResourceInfo("storage.k8s.io", "v1", "storageclasses", "StorageClass", "storageclass", False, ("sc",)),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_update_rules,))
