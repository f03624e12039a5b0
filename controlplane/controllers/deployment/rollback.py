"""Revision history and rollback of a Deployment: pure functions over its ReplicaSets.

Rollback is done client-side, as kubectl does: `pyctl rollout undo` finds the ReplicaSet
of the wanted revision and patches its template (without the pod-template-hash label)
into the Deployment; the controller then finds that ReplicaSet as the new one and gives
it the next revision number. `pyctl rollout history` lists the same revisions.
"""

from __future__ import annotations

from typing import Any

from . import util

Obj = dict[str, Any]

# The Deployment's own annotations that a rollback keeps instead of taking the RS's.
_KEPT_FROM_DEPLOYMENT = ("kubectl.kubernetes.io/last-applied-configuration", util.REVISION,
                         util.REVISION_HISTORY, util.DESIRED_REPLICAS, util.MAX_REPLICAS,
                         "deprecated.deployment.rollback.to")


class RollbackError(Exception):
    """Why a rollback cannot be done, worded as kubectl words it."""


def owned_by(d: Obj, rss: list[Obj]) -> list[Obj]:
    uid = d["metadata"].get("uid")
    return [rs for rs in rss if any(r.get("controller") and r.get("uid") == uid
                                    for r in rs["metadata"].get("ownerReferences") or [])]


def history(rss: list[Obj]) -> list[tuple[int, Obj]]:
    """(revision, ReplicaSet) for every revision, oldest first."""
    return sorted(((util.revision(rs), rs) for rs in rss if util.revision(rs) > 0), key=lambda p: p[0])


def change_cause(rs: Obj) -> str:
    return ((rs.get("metadata") or {}).get("annotations") or {}).get(util.CHANGE_CAUSE, "")


def rollback_target(name: str, rss: list[Obj], to_revision: int = 0) -> tuple[int, Obj]:
    """The (revision, RS) to go back to: `to_revision`, or the one before the latest."""
    revisions = history(rss)
    if to_revision > 0:
        for rev, rs in revisions:
            if rev == to_revision:
                return rev, rs
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    if len(revisions) < 2:
        raise RollbackError(f'no rollout history found for deployment "{name}"')
    return revisions[-2]


def rollback_patch(d: Obj, rs: Obj) -> list[Obj]:
    """The JSON patch kubectl sends: the RS's template, and its annotations (minus the
    controller's bookkeeping, which stays as the Deployment has it)."""
    own = (d["metadata"].get("annotations") or {})
    annotations = {k: own[k] for k in _KEPT_FROM_DEPLOYMENT if k in own}
    for k, v in ((rs["metadata"].get("annotations") or {})).items():
        if k not in _KEPT_FROM_DEPLOYMENT:
            annotations[k] = v
    return [{"op": "replace", "path": "/spec/template", "value": util.without_hash(rs["spec"]["template"])},
            {"op": "add", "path": "/metadata/annotations", "value": annotations}]
