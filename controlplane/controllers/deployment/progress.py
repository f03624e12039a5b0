"""Deployment status and the Progressing/Available conditions: pure functions of a snapshot.

`calculate_status` sums the ReplicaSets' status into the Deployment's; `rollout_status`
adds the Progressing condition as Kubernetes' progress.go does (NewReplicaSetAvailable when
complete, ReplicaSetUpdated on any progress, ProgressDeadlineExceeded when
progressDeadlineSeconds passed since the last progress); `requeue_after` says when to look
again so that a stuck rollout times out even if nothing else happens.
"""

from __future__ import annotations

import copy
import datetime as dt

from ...machinery.meta import parse_time
from . import util
from ...machinery.types import Obj



def calculate_status(d: Obj, new_rs: Obj | None, all_rss: list[Obj], now: dt.datetime) -> Obj:
    """The counts, observedGeneration and the Available condition (kube's calculateStatus)."""
    replicas = int(d["spec"].get("replicas", 1))
    available = sum(util.status_of(rs, "availableReplicas") for rs in all_rss)
    status: Obj = copy.deepcopy(d.get("status") or {})
    status.update(
        observedGeneration=int(d["metadata"].get("generation") or 0),
        replicas=sum(util.status_of(rs, "replicas") for rs in all_rss),
        updatedReplicas=util.status_of(new_rs, "replicas") if new_rs else 0,
        readyReplicas=sum(util.status_of(rs, "readyReplicas") for rs in all_rss),
        availableReplicas=available,
        unavailableReplicas=max(0, replicas - available),
    )
    for field in ("updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas", "replicas"):
        if status[field] == 0:  # omitempty on the wire, as kube serves it
            status.pop(field)
    if available >= replicas - util.max_unavailable(d):
        cond = util.new_condition("Available", "True", util.MIN_AVAILABLE,
                                  "Deployment has minimum availability.", now)
    else:
        cond = util.new_condition("Available", "False", util.MIN_UNAVAILABLE,
                                  "Deployment does not have minimum availability.", now)
    util.set_condition(status, cond)
    return status


def complete(d: Obj, status: Obj) -> bool:
    """DeploymentComplete: every replica updated and available, this generation observed."""
    replicas = int(d["spec"].get("replicas", 1))
    return (int(status.get("updatedReplicas") or 0) == replicas
            and int(status.get("replicas") or 0) == replicas
            and int(status.get("availableReplicas") or 0) == replicas
            and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0))


def progressing(d: Obj, new: Obj) -> bool:
    """Whether the new status shows any progress over the Deployment's current one."""
    old = d.get("status") or {}

    def n(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)
    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas") or new_old < old_old
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas"))


def has_deadline(d: Obj) -> bool:
    deadline = d["spec"].get("progressDeadlineSeconds")
    return deadline is not None and deadline < 2**31 - 1


def timed_out(d: Obj, status: Obj, now: dt.datetime) -> bool:
    if not has_deadline(d):
        return False
    cond = util.get_condition(status, "Progressing")
    if cond is None:
        return False
    if cond.get("reason") == util.TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + dt.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) < now


def rollout_status(d: Obj, new_rs: Obj | None, all_rss: list[Obj], now: dt.datetime) -> Obj:
    """calculate_status plus the Progressing condition for a rollout in flight."""
    status = calculate_status(d, new_rs, all_rss, now)
    if not has_deadline(d):
        util.remove_condition(status, "Progressing")
        return status
    current = util.get_condition(status, "Progressing")
    done = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
            and current is not None and current.get("reason") == util.NEW_RS_AVAILABLE)
    if done or new_rs is None:
        return status
    name = new_rs["metadata"]["name"]
    if complete(d, status):
        util.set_condition(status, util.new_condition(
            "Progressing", "True", util.NEW_RS_AVAILABLE, f'ReplicaSet "{name}" has successfully progressed.', now))
    elif progressing(d, status):
        cond = util.new_condition("Progressing", "True", util.RS_UPDATED, f'ReplicaSet "{name}" is progressing.', now)
        if current is not None and current.get("status") == "True":
            cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
        # Replace even with the same reason: lastUpdateTime records *when* we last progressed.
        util.remove_condition(status, "Progressing")
        status["conditions"].append(cond)
    elif timed_out(d, status, now):
        util.set_condition(status, util.new_condition(
            "Progressing", "False", util.TIMED_OUT, f'ReplicaSet "{name}" has timed out progressing.', now))
    return status


def paused_condition(d: Obj, status: Obj, now: dt.datetime) -> None:
    """DeploymentPaused / DeploymentResumed, as kube's checkPausedConditions."""
    if not has_deadline(d):
        return
    cond = util.get_condition(status, "Progressing")
    paused = bool(d["spec"].get("paused"))
    if cond is not None and cond.get("reason") == util.TIMED_OUT:
        return  # a timed-out rollout stays timed out until something new happens
    if paused and (cond is None or cond.get("reason") != util.PAUSED):
        util.set_condition(status, util.new_condition("Progressing", "Unknown", util.PAUSED,
                                                      "Deployment is paused", now))
    elif not paused and cond is not None and cond.get("reason") == util.PAUSED:
        util.set_condition(status, util.new_condition("Progressing", "Unknown", util.RESUMED,
                                                      "Deployment is resumed", now))


def requeue_after(d: Obj, status: Obj, now: dt.datetime) -> float | None:
    """Seconds until a rollout that is progressing would pass its deadline (None: no need)."""
    if not has_deadline(d) or complete(d, status):
        return None
    cond = util.get_condition(status, "Progressing")
    if cond is None or cond.get("reason") in (util.TIMED_OUT, util.NEW_RS_AVAILABLE, util.PAUSED):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    left = (since + dt.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) - now).total_seconds()
    return max(left, 0.0) + 1.0  # second-precision timestamps: look just after the deadline
