"""PodDisruptionBudget arithmetic and status, shared by the disruption controller and the
Eviction API (which decrements `disruptionsAllowed` itself).

Kubernetes' `pkg/controller/disruption` and `pkg/apis/policy/helper`: the budget's desired
healthy count from minAvailable / maxUnavailable (percentages round up, of the pods' controllers'
scale), its healthy pods (ready, not being deleted, not just evicted), and the DisruptionAllowed
condition, True (SufficientPods) while a disruption is allowed, False (InsufficientPods) else.
Pure: `now` is given.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from .intstr import scaled_value
from .meta import now_rfc3339, parse_time
from .types import Obj

DISRUPTION_ALLOWED = "DisruptionAllowed"
DELETION_TIMEOUT = 120.0  # seconds an evicted pod may take to show its deletion (kube's DeletionTimeout)
MAX_DISRUPTED_PODS = 2000
EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def desired_healthy(spec: Obj, expected: int) -> int:
    """How many pods must stay healthy, given how many the budget's pods' controllers want."""
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - scaled_value(spec["maxUnavailable"], expected, True))
    if spec.get("minAvailable") is not None:
        return scaled_value(spec["minAvailable"], expected, True)
    return 0


def needs_scale(spec: Obj) -> bool:
    """Whether the expected count comes from the controllers' scale (else: the pods matched)."""
    return spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str)


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def recent_disruptions(pods: Iterable[Obj], disrupted: Obj, now: dt.datetime) -> tuple[Obj, dt.datetime | None]:
    """The evictions still expected to show (pod name -> time), and when the first expires.
    A pod already being deleted has shown; one not deleted within DELETION_TIMEOUT never will."""
    kept: Obj = {}
    recheck: dt.datetime | None = None
    for pod in pods:
        md = pod.get("metadata") or {}
        when = parse_time(disrupted.get(md.get("name", ""))) if not md.get("deletionTimestamp") else None
        if when is None:
            continue
        expires = when + dt.timedelta(seconds=DELETION_TIMEOUT)
        if expires < now:
            continue
        kept[md["name"]] = disrupted[md["name"]]
        recheck = expires if recheck is None or expires < recheck else recheck
    return kept, recheck


def healthy(pods: Iterable[Obj], disrupted: Obj) -> int:
    return sum(1 for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
               and (p.get("metadata") or {}).get("name") not in disrupted and pod_ready(p))


def set_allowed_condition(status: Obj, generation: int, now: dt.datetime, *, reason: str = "",
                          message: str = "") -> None:
    """UpdateDisruptionAllowedCondition (or, with a reason, the failure-safe SyncFailed one)."""
    allowed = (status.get("disruptionsAllowed") or 0) > 0 and not reason
    truth = "True" if allowed else "False"
    reason = reason or ("SufficientPods" if allowed else "InsufficientPods")
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != DISRUPTION_ALLOWED]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == DISRUPTION_ALLOWED), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == truth else now_rfc3339(now)
    conditions.append({"type": DISRUPTION_ALLOWED, "status": truth, "observedGeneration": generation,
                       "lastTransitionTime": since, "reason": reason, "message": message})
    status["conditions"] = conditions
