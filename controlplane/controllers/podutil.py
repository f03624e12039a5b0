"""What a workload controller reads off its pods: active, ready, ready since when, available.

Kubernetes' `pkg/api/v1/pod` and `controller` helpers, shared by every controller that owns pods.
"""

from __future__ import annotations

import datetime as dt

from ..machinery.meta import parse_time
from ..machinery.types import Obj


def pod_active(pod: Obj) -> bool:
    """Not terminating and not finished: a pod that counts towards replicas."""
    phase = (pod.get("status") or {}).get("phase")
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def _ready_condition(pod: Obj) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def pod_ready(pod: Obj) -> bool:
    c = _ready_condition(pod)
    return c is not None and c.get("status") == "True"


def ready_since(pod: Obj) -> dt.datetime | None:
    c = _ready_condition(pod)
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) <= now


def seconds_until_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> float | None:
    """For a ready pod not yet available: how long until it is (to look again then)."""
    since = ready_since(pod)
    if since is None or min_ready_seconds <= 0:
        return None
    left = (since + dt.timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return left if left > 0 else None
