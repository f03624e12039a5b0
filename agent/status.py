"""v1 PodStatus from what the runtime reports: phase, conditions, IPs, containerStatuses.

Pure functions of (pod, observed runtime state, containers waiting for a back-off), so the
rules for phase and readiness are read and tested in one place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .runtime.base import NEVER_RAN, ContainerState, Pod, RuntimePod

Status = dict[str, Any]


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def should_restart(policy: str, exit_code: int | None) -> bool:
    """restartPolicy: Always restarts every exit; OnFailure only non-zero exits; Never none."""
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return exit_code not in (0, None)
    return True


def never_started(c: ContainerState) -> bool:
    """A container whose image could not be pulled, or that could not be configured as asked
    (runAsNonRoot, a missing seccomp profile), never ran: it waits, it did not exit."""
    return c.state == "exited" and c.reason in NEVER_RAN


def phase(pod: Pod, observed: RuntimePod | None, terminating: bool = False) -> str:
    """The kubelet's rule: Pending while any container has never run (creating, pulling, not
    configurable), Running while one runs or will be restarted, then Succeeded or Failed.
    `terminating`: the pod is being deleted and its containers were stopped for good, so once
    none runs it is terminal whatever restartPolicy says (as the kubelet reports it)."""
    if observed is None or not observed.containers:
        return "Pending"
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    states = observed.containers
    if terminating and all(c.state == "exited" for c in states):
        return "Failed" if any(c.exit_code not in (0, None) for c in states) else "Succeeded"
    if any((c.state == "waiting" or never_started(c)) and not c.restart_count and c.last_state is None
           for c in states):
        return "Pending"
    if any(c.state in ("running", "waiting") or never_started(c) for c in states):
        return "Running"
    # Every container has exited.
    if any(should_restart(policy, c.exit_code) for c in states):
        return "Running"  # about to restart
    return "Failed" if any(c.exit_code not in (0, None) for c in states) else "Succeeded"


def _state(c: ContainerState, waiting_reason: str = "") -> dict[str, Any]:
    if waiting_reason == "ImagePullBackOff":
        # As the kubelet reports it: the registry's last word stays visible while backing off.
        return {"waiting": {"reason": waiting_reason,
                            "message": f'Back-off pulling image "{c.image}": {c.message}'.rstrip(": ")}}
    if waiting_reason:
        return {"waiting": {"reason": waiting_reason, "message": c.message or waiting_reason}}
    if c.state == "running":
        return {"running": {"startedAt": c.started_at}}
    if c.state == "exited":
        term: dict[str, Any] = {"exitCode": c.exit_code or 0, "reason": c.reason or "Completed",
                                "startedAt": c.started_at, "finishedAt": c.finished_at,
                                "containerID": c.container_id}
        if c.message:
            term["message"] = c.message
        return {"terminated": term}
    return {"waiting": {"reason": c.reason or "ContainerCreating"}}


def container_status(c: ContainerState, waiting_reason: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": c.name, "state": _state(c, waiting_reason), "ready": c.ready and c.state == "running",
        "restartCount": c.restart_count, "image": c.image, "imageID": c.image_id,
        "started": c.state == "running" and not c.startup_pending,  # after the startup probe
    }
    if c.container_id:
        out["containerID"] = c.container_id
    if waiting_reason and c.state == "exited" and not never_started(c):
        # Waiting to restart (CrashLoopBackOff): as the kubelet, lastState is the run that
        # just died (its exit code, OOMKilled...), not the one before it.
        out["lastState"] = _state(c)
    else:
        out["lastState"] = _state(c.last_state) if c.last_state is not None else {}
    return out


def _condition(type_: str, ok: bool, since: dict[str, str], reason: str = "") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": type_, "status": "True" if ok else "False",
                            "lastProbeTime": None, "lastTransitionTime": since.get(f"{type_}={ok}") or now_rfc3339()}
    # The gateway writes status as a strategic merge patch, where conditions merge by type: a
    # condition without a reason must say reason: null, or it keeps the one it had while False.
    cond["reason"] = reason if not ok and reason else None
    return cond


def pod_status(pod: Pod, observed: RuntimePod | None, host_ip: str, *, backing_off: frozenset[str] | set[str] = frozenset(),
               previous: Status | None = None, terminating: bool = False) -> Status:
    """The PodStatus to report; transition times are kept from `previous` while unchanged.
    `terminating`: the pod's containers were stopped for its deletion (see `phase`)."""
    spec = pod.get("spec") or {}
    since = {f"{c['type']}={c['status'] == 'True'}": c.get("lastTransitionTime", "")
             for c in (previous or {}).get("conditions") or []}
    names = [c["name"] for c in spec.get("containers") or []]
    by_name = {c.name: c for c in observed.containers} if observed else {}
    statuses = []
    for name in names:
        c = by_name.get(name)
        if c is None:
            image = next((x.get("image", "") for x in spec["containers"] if x["name"] == name), "")
            statuses.append(container_status(ContainerState(name=name, image=image)))
        elif never_started(c) and c.reason != "ErrImagePull":
            statuses.append(container_status(c, c.reason))
        elif never_started(c):
            statuses.append(container_status(c, "ImagePullBackOff" if name in backing_off else "ErrImagePull"))
        else:
            statuses.append(container_status(c, "CrashLoopBackOff" if name in backing_off else ""))
    ready = bool(statuses) and all(s["ready"] for s in statuses)
    ph = phase(pod, observed, terminating)
    not_ready_reason = "PodCompleted" if ph in ("Succeeded", "Failed") else "ContainersNotReady"
    status: Status = {
        "phase": ph,
        "conditions": [
            _condition("PodScheduled", True, since),
            _condition("Initialized", True, since),
            _condition("ContainersReady", ready, since, not_ready_reason),
            _condition("Ready", ready, since, not_ready_reason),
        ],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "containerStatuses": statuses,
    }
    if observed is not None:
        status["startTime"] = observed.started_at
        if observed.pod_ip:
            status["podIP"] = observed.pod_ip
            status["podIPs"] = [{"ip": observed.pod_ip}]
    elif previous and previous.get("startTime"):
        status["startTime"] = previous["startTime"]
    return status
