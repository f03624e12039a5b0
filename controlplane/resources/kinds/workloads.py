"""Deployments and ReplicaSets (apps/v1), and the autoscaling/v1 Scale of their scale subresource.

Defaults from `pkg/apis/apps/v1/defaults.go`, rules from `pkg/apis/apps/validation`: a selector
that matches the template's labels and never changes, a template that is a valid pod spec with
restartPolicy Always, rollout parameters in range. Columns from kubectl's printDeployment and
printReplicaSet.
"""

from __future__ import annotations

from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, child, fill, normalized
from ..info import SCALE, STATUS, ResourceInfo
from ..kind import Kind
from ..rules import annotation_errors, enum, go_selector, labels, nonnegative, selector_errors, selector_matches
from ..tables import AGE, CONTAINERS, IMAGES, NAME, Column, Printer, count, replicas, selector
from ..validation import NEGATIVE_MSG, Cause, GoLiteral, forbidden, go_string_map, invalid, required
from .podspec import default_template, long_running, template_rules


# --- defaults -------------------------------------------------------------------------------

def _default_replica_set(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is not None:
        fill(spec, "replicas", 1)
        default_template(spec)


def _default_deployment(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    fill(spec, "replicas", 1)
    strategy = child(spec, "strategy")
    if strategy is not None:
        fill(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = child(strategy, "rollingUpdate")
            if rolling is not None:
                fill(rolling, "maxUnavailable", "25%")
                fill(rolling, "maxSurge", "25%")
    fill(spec, "revisionHistoryLimit", 10)
    fill(spec, "progressDeadlineSeconds", 600)
    default_template(spec)


# --- rules ----------------------------------------------------------------------------------

def selector_and_template(obj: Obj, noun: str, kind: str, *, pod_rules: bool = True,
                          labels_path: str = "spec.template.metadata.labels") -> list[Cause]:
    """The selector and pod template every workload has: a valid, non-empty selector that
    matches the template's labels, a template that is a valid pod spec (`pod_rules`) with
    restartPolicy Always and no activeDeadlineSeconds. `noun` and `kind` word the messages as
    kube-apiserver does for that kind ("empty selector is invalid for daemonset")."""
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    sel = spec.get("selector")
    selector_ok = False
    if sel is None:
        out.append(required("spec.selector"))
    elif isinstance(sel, dict):
        sel_errors = selector_errors(sel, "spec.selector")
        if not as_dict(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions")):
            sel_errors.append(invalid("spec.selector", go_selector(sel), f"empty selector is invalid for {noun}"))
        out += sel_errors
        selector_ok = not sel_errors
    template = spec.get("template")
    if template is None:
        out.append(required("spec.template"))
    elif isinstance(template, dict):
        tmeta = as_dict(template.get("metadata"))
        tlabels = tmeta.get("labels") if isinstance(tmeta.get("labels"), dict) else None
        if selector_ok and not selector_matches(as_dict(sel), tlabels or {}):
            out.append(invalid("spec.template.metadata.labels", go_string_map(tlabels),
                               "`selector` does not match template `labels`"))
        if pod_rules:
            out += template_rules(template, "spec.template")
        else:
            out += labels(tlabels, labels_path)
            out += annotation_errors(tmeta.get("annotations"), "spec.template.metadata.annotations")
        out += long_running(template, "spec.template", kind)
    return out


def replicated(obj: Obj) -> list[Cause]:
    """Shared by Deployment and ReplicaSet (ValidateReplicaSetSpec / ValidateDeploymentSpec)."""
    spec = as_dict(obj.get("spec"))
    out = nonnegative(spec, "replicas", "spec") + nonnegative(spec, "minReadySeconds", "spec")
    return out + selector_and_template(obj, "deployment", "ReplicaSet")


def _int_or_percent(value: Any) -> int:
    if isinstance(value, str):
        digits = value[:-1] if value.endswith("%") else value
        return int(digits) if digits.isdigit() else 0
    return as_int(value) or 0


PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "
               "or '93%', regex used for validation is '[0-9]+%')")


def int_or_percent(value: Any, path: str, at_most_100: bool = True) -> list[Cause]:
    """ValidatePositiveIntOrPercent (and IsNotMoreThan100Percent) of one int-or-percent field."""
    if isinstance(value, str) and not (value.endswith("%") and value[:-1].isdigit()):
        return [invalid(path, GoLiteral(value), PERCENT_MSG)]
    if (n := as_int(value)) is not None and n < 0:
        return [invalid(path, n, NEGATIVE_MSG)]
    if at_most_100 and isinstance(value, str) and _int_or_percent(value) > 100:
        return [invalid(path, GoLiteral(value), "must not be greater than 100%")]
    return []


def nonzero(value: Any) -> bool:
    """Whether an int-or-percent is set to something other than 0 (or 0%)."""
    return _int_or_percent(value) != 0


def _rolling_update(ru: Obj, path: str) -> list[Cause]:
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    out = int_or_percent(mu, f"{path}.maxUnavailable") + int_or_percent(ms, f"{path}.maxSurge", at_most_100=False)
    if mu is not None and ms is not None and not nonzero(mu) and not nonzero(ms):
        out.append(invalid(f"{path}.maxUnavailable", GoLiteral(str(mu)), "may not be 0 when `maxSurge` is 0"))
    return out


def _deployment_rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out = replicated(obj) + nonnegative(spec, "revisionHistoryLimit", "spec")
    strategy = as_dict(spec.get("strategy"))
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        out.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    elif kind in ("RollingUpdate", "", None) and isinstance(rolling, dict):
        out += _rolling_update(rolling, "spec.strategy.rollingUpdate")
    else:
        out += enum("spec.strategy.type", kind, ["Recreate", "RollingUpdate"])
    deadline = as_int(spec.get("progressDeadlineSeconds"))
    if deadline is not None:
        out += nonnegative(spec, "progressDeadlineSeconds", "spec")
        if deadline <= (as_int(spec.get("minReadySeconds")) or 0):
            out.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return out


def selector_update(new: Obj, old: Obj) -> list[Cause]:
    ns, os_ = as_dict(new.get("spec")).get("selector"), as_dict(old.get("spec")).get("selector")
    if normalized(ns) != normalized(os_):
        return [invalid("spec.selector", go_selector(as_dict(ns)), "field is immutable")]
    return []


def _scale_rules(obj: Obj) -> list[Cause]:
    return nonnegative(as_dict(obj.get("spec")), "replicas", "spec")


# --- the tables -----------------------------------------------------------------------------

DEPLOYMENT_PRINTER = Printer((
    NAME,
    Column("Ready", lambda r: f"{r.status.get('readyReplicas') or 0}/{replicas(r)}",
           description="Number of the pod with ready state"),
    Column("Up-to-date", count("status", "updatedReplicas"),
           description="Total number of non-terminated pods targeted by this deployment that have the "
                       "desired template spec."),
    Column("Available", count("status", "availableReplicas"),
           description="Total number of available pods (ready for at least minReadySeconds) targeted by "
                       "this deployment."),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", lambda r: selector(r.spec.get("selector"), on_error="<invalid>", if_empty=""),
           priority=1, description="Label selector for pods."),
))

REPLICA_SET_PRINTER = Printer((
    NAME,
    Column("Desired", replicas, type="integer", description="Replicas is the number of desired replicas."),
    Column("Current", count("status", "replicas"), type="integer",
           description="Replicas is the most recently observed number of replicas."),
    Column("Ready", count("status", "readyReplicas"), type="integer",
           description="The number of ready replicas for this replica set."),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", lambda r: selector(r.spec.get("selector"), on_error="<error>", if_empty="<none>"),
           priority=1, description="Selector is a label query over pods that should match the replica count."),
))


# --- the kinds ------------------------------------------------------------------------------

DEPLOYMENT = Kind(
    ResourceInfo("apps", "v1", "deployments", "Deployment", "deployment", True, ("deploy",), ("all",),
                 subresources=(SCALE, STATUS), has_status=True),
    printer=DEPLOYMENT_PRINTER, default=_default_deployment, rules=(_deployment_rules,),
    update_rules=(selector_update,))

REPLICA_SET = Kind(
    ResourceInfo("apps", "v1", "replicasets", "ReplicaSet", "replicaset", True, ("rs",), ("all",),
                 subresources=(SCALE, STATUS), has_status=True),
    printer=REPLICA_SET_PRINTER, default=_default_replica_set, rules=(replicated,),
    update_rules=(selector_update,), initial_status={"replicas": 0})

SCALE_BODY = Kind(ResourceInfo("autoscaling", "v1", "scales", "Scale", "scale", True),
                  rules=(_scale_rules,), served=False)
