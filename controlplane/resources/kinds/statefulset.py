"""StatefulSets (apps/v1): pods with stable names, storage and DNS identities.

Defaults from `pkg/apis/apps/v1/defaults.go` (OrderedReady, RollingUpdate with partition 0 and
maxUnavailable 1, Retain/Retain claim retention, replicas 1, revisionHistoryLimit 10, and the
PersistentVolumeClaim defaults inside each volumeClaimTemplate), rules from
`pkg/apis/apps/validation` (ValidateStatefulSetSpec, and ValidateStatefulSetUpdate: only
replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy and
minReadySeconds may change) and kubectl's printStatefulSet columns.
"""

from __future__ import annotations

from ...machinery.types import Obj
from ..fields import as_dict, as_int, child, dicts, fill, normalized
from ..info import SCALE, STATUS, ResourceInfo
from ..kind import Kind
from ..rules import nonnegative
from ..tables import AGE, CONTAINERS, IMAGES, NAME, Column, Printer, replicas
from ..validation import Cause, GoLiteral, dns1123_label, forbidden, invalid, not_supported, required
from .podspec import default_template
from .workloads import int_or_percent, nonzero, selector_and_template

RETENTION = ["Retain", "Delete"]
# What ValidateStatefulSetUpdate lets change; any other spec field is fixed at creation.
MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
           "minReadySeconds")


# --- defaults -------------------------------------------------------------------------------

def _default_claim_template(claim: Obj) -> None:
    """SetObjectDefaults_PersistentVolumeClaim on a template, as the API serves them."""
    fill(claim, "apiVersion", "v1")
    fill(claim, "kind", "PersistentVolumeClaim")
    spec = child(claim, "spec")
    if spec is not None:
        fill(spec, "volumeMode", "Filesystem")
    status = child(claim, "status")
    if status is not None:
        fill(status, "phase", "Pending")


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    fill(spec, "podManagementPolicy", "OrderedReady")
    strategy = child(spec, "updateStrategy")
    if strategy is not None:
        if strategy.get("type") in (None, ""):
            strategy["type"] = "RollingUpdate"
            child(strategy, "rollingUpdate")
        rolling = strategy.get("rollingUpdate")
        if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
            fill(rolling, "partition", 0)
            fill(rolling, "maxUnavailable", 1)
    policy = child(spec, "persistentVolumeClaimRetentionPolicy")
    if policy is not None:
        fill(policy, "whenDeleted", "Retain")
        fill(policy, "whenScaled", "Retain")
    fill(spec, "replicas", 1)
    fill(spec, "revisionHistoryLimit", 10)
    for claim in dicts(spec.get("volumeClaimTemplates")):
        _default_claim_template(claim)
    default_template(spec)


# --- rules ----------------------------------------------------------------------------------

def _go_rolling(rolling: Obj) -> GoLiteral:
    """A RollingUpdateStatefulSetStrategy as Go's %v prints the pointer in messages."""
    mu = rolling.get("maxUnavailable")
    return GoLiteral(f"&apps.RollingUpdateStatefulSetStrategy{{Partition:{as_int(rolling.get('partition')) or 0}, "
                     f"MaxUnavailable:{'<nil>' if mu is None else mu}}}")


def _update_strategy(spec: Obj) -> list[Cause]:
    strategy, path = as_dict(spec.get("updateStrategy")), "spec.updateStrategy"
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind in (None, ""):
        return [required(path)]
    if kind == "OnDelete":
        return [invalid(f"{path}.rollingUpdate", _go_rolling(as_dict(rolling)),
                        "only allowed for updateStrategy 'RollingUpdate'")] if rolling is not None else []
    if kind != "RollingUpdate":
        return [invalid(path, GoLiteral(str(kind)), "must be 'RollingUpdate' or 'OnDelete'")]
    if not isinstance(rolling, dict):
        return []
    path += ".rollingUpdate"
    out = nonnegative(rolling, "partition", path)
    mu = rolling.get("maxUnavailable")
    if mu is not None:
        out += int_or_percent(mu, f"{path}.maxUnavailable")
        if not nonzero(mu):
            out.append(invalid(f"{path}.maxUnavailable", GoLiteral(str(mu)), "cannot be 0"))
    return out


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    policy = spec.get("podManagementPolicy")
    if policy in (None, ""):
        out.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        out.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    out += _update_strategy(spec)
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        for key in ("whenDeleted", "whenScaled"):
            if retention.get(key) not in RETENTION:
                out.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}",
                                         retention.get(key) or "", RETENTION))
    out += nonnegative(spec, "replicas", "spec") + nonnegative(spec, "minReadySeconds", "spec")
    start = as_int(as_dict(spec.get("ordinals")).get("start"))
    if start is not None and start < 0:
        out.append(invalid("spec.ordinals.start", start, "must be greater than or equal to 0"))
    # The template's pod spec is not validated (its volume mounts may name claim templates).
    return out + selector_and_template(obj, "statefulset", "StatefulSet", pod_rules=False,
                                       labels_path="spec.template.labels")


def _fixed_fields(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    if any(normalized(ns.get(k)) != normalized(os_.get(k)) for k in set(ns) | set(os_) if k not in MUTABLE):
        return [forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                  "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                                  "'minReadySeconds' are forbidden")]
    return []


# --- the table ------------------------------------------------------------------------------

PRINTER = Printer((
    NAME,
    Column("Ready", lambda r: f"{r.status.get('readyReplicas') or 0}/{replicas(r)}",
           description="Number of the pod with ready state"),
    AGE, CONTAINERS, IMAGES,
))

STATEFUL_SET = Kind(
    ResourceInfo("apps", "v1", "statefulsets", "StatefulSet", "statefulset", True, ("sts",), ("all",),
                 subresources=(SCALE, STATUS), has_status=True),
    printer=PRINTER, default=_default, rules=(_rules,), update_rules=(_fixed_fields,),
    name_check=dns1123_label, initial_status={"replicas": 0, "availableReplicas": 0})

