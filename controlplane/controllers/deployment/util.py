"""Pure helpers for Deployments and their ReplicaSets: no I/O, no clock reads of their own.

Owns what makes a ReplicaSet "new" or "old", the int-or-percent arithmetic of
maxSurge/maxUnavailable with Kubernetes' rounding, and the Deployment condition helpers. The
facts `pyctl rollout` shares with the controller (template hash, revisions, rollback) are
machinery/rollout.py's.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Iterable

from ...machinery.rollout import (  # noqa: F401  (the package uses them from here)
    CHANGE_CAUSE, DESIRED_REPLICAS, HASH_LABEL, MAX_REPLICAS, REVISION, REVISION_HISTORY, TIMED_OUT,
    equal_ignore_hash, get_condition, revision, template_hash, without_hash)
from ...machinery import intstr
from ...machinery.meta import LAST_APPLIED
from ...machinery.types import Obj

# Annotations of the Deployment that are not copied onto its ReplicaSets (kube's skip list).
_NOT_COPIED = {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
               LAST_APPLIED}

# Condition reasons, exactly as `kubectl rollout status` and `describe` read them.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def copied_annotations(deployment: Obj) -> dict[str, str]:
    """The Deployment's own annotations that its ReplicaSets carry too."""
    ann = (deployment.get("metadata") or {}).get("annotations") or {}
    return {k: v for k, v in ann.items() if k not in _NOT_COPIED}


def find_new_rs(deployment: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet whose template equals the Deployment's (oldest first, as kube picks)."""
    template = deployment["spec"]["template"]
    for rs in sorted(rss, key=creation_key):
        if equal_ignore_hash(rs["spec"].get("template"), template):
            return rs
    return None


def creation_key(obj: Obj) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return (md.get("creationTimestamp") or "", md.get("name") or "")


def spec_replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def status_of(rs: Obj, field: str) -> int:
    return int((rs.get("status") or {}).get(field) or 0)


def pod_count(rs: Obj) -> int:
    """Pods an RS may have right now: its spec, or more while a scale-down is still running."""
    return max(spec_replicas(rs), status_of(rs, "replicas"))


def rs_synced(rs: Obj) -> bool:
    """Whether the RS's status reflects its current spec (its controller has caught up)."""
    md = rs.get("metadata") or {}
    return status_of(rs, "observedGeneration") >= int(md.get("generation") or 0)


# -- maxSurge / maxUnavailable ---------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool, default: str = "25%") -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, a percentage of `total`."""
    return intstr.scaled_value(default if value is None else value, total, round_up)


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for a RollingUpdate Deployment, never both zero.

    Surge rounds up and unavailable rounds down, so 25% of 3 is one extra pod and zero
    missing ones; if both come out zero, one may be unavailable or nothing could move.
    """
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1))
    surge = scaled_value(rolling.get("maxSurge"), replicas, True)
    unavailable = scaled_value(rolling.get("maxUnavailable"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def max_unavailable(deployment: Obj) -> int:
    spec = deployment.get("spec") or {}
    if (spec.get("strategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    replicas = int(spec.get("replicas", 1))
    return 0 if replicas == 0 else surge_and_unavailable(deployment)[1]


# -- pods ------------------------------------------------------------------------------------

# -- conditions ------------------------------------------------------------------------------

def fmt_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_condition(type_: str, status: str, reason: str, message: str, now: dt.datetime) -> Obj:
    t = fmt_time(now)
    return {"type": type_, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: unchanged status+reason is left alone; an unchanged status
    keeps its lastTransitionTime."""
    conds = status.setdefault("conditions", [])
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime", cond["lastTransitionTime"])}
    status["conditions"] = [c for c in conds if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Obj, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


# -- proportional scaling --------------------------------------------------------------------

def _annotation_int(rs: Obj, key: str) -> int | None:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {})[key])
    except (KeyError, TypeError, ValueError):
        return None


def is_scaling_event(d: Obj, active_rss: list[Obj]) -> bool:
    """Whether replicas changed since the active RSs were last sized (their annotation says)."""
    replicas = int(d["spec"].get("replicas", 1))
    return any((want := _annotation_int(rs, DESIRED_REPLICAS)) is not None and want != replicas
               for rs in active_rss)


def proportional_targets(d: Obj, active_rss: list[Obj]) -> dict[str, int]:
    """New spec.replicas (by name) when a Deployment with several active RSs is resized
    mid-rollout: each RS grows or shrinks in proportion to its share of the old size (by its
    max-replicas annotation), the rounding leftover going to the largest RS (kube's scale())."""
    replicas = int(d["spec"].get("replicas", 1))
    surge, _ = surge_and_unavailable(d)
    allowed = replicas + surge if replicas > 0 else 0
    current = sum(spec_replicas(rs) for rs in active_rss)
    to_add = allowed - current
    if to_add == 0 or not active_rss:
        return {}
    # Biggest first; ties: newer first when growing, older first when shrinking.
    ordered = sorted(active_rss, key=lambda rs: creation_key(rs), reverse=to_add > 0)
    ordered = sorted(ordered, key=spec_replicas, reverse=True)
    targets: dict[str, int] = {}
    added = 0
    for rs in ordered:
        size = spec_replicas(rs)
        if to_add == added or size == 0:
            targets[rs["metadata"]["name"]] = size
            continue
        if replicas == 0:
            fraction = -size
        else:
            annotated = _annotation_int(rs, MAX_REPLICAS) or current or 1
            fraction = math.ceil(size * allowed / annotated) - size
        left = to_add - added
        step = min(fraction, left) if to_add > 0 else max(fraction, left)
        targets[rs["metadata"]["name"]] = size + step
        added += step
    if added != to_add:  # the rounding leftover goes to the largest RS
        first = ordered[0]["metadata"]["name"]
        targets[first] = max(0, targets[first] + to_add - added)
    return {n: v for n, v in targets.items()
            if v != spec_replicas(next(rs for rs in active_rss if rs["metadata"]["name"] == n))}
