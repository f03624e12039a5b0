"""What the deployment controller and kubectl-style clients both know about a rollout.

The pod-template hash and the revision annotations the controller writes, and revision history
and rollback as pure functions over a Deployment's ReplicaSets. Rollback is done client-side,
as kubectl does: `pyctl rollout undo` finds the ReplicaSet of the wanted revision and patches
its template (without the pod-template-hash label) into the Deployment; the controller then
finds that ReplicaSet as the new one and gives it the next revision number.
"""

from __future__ import annotations

import copy
import hashlib
import json

from .meta import LAST_APPLIED
from .types import Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
TIMED_OUT = "ProgressDeadlineExceeded"  # the Progressing reason `rollout status` gives up on


# Kubernetes' SafeEncodeString alphabet: no vowels, no look-alikes, so hashes spell no words.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# -- template hash and identity --------------------------------------------------------------

def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A short, stable hash of a pod template: same template, same name, in any process.

    sha256 over canonical JSON (sorted keys), plus the collision count so that a name
    clash with a foreign ReplicaSet can be escaped, encoded like Kubernetes' hashes.
    """
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    if collision_count:
        canonical += f"#{collision_count}"
    n = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:4], "big")
    out = []
    while n:
        n, r = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out) or _ALPHABET[0]


def without_hash(template: Obj | None) -> Obj:
    """The template with the pod-template-hash label removed (what kubectl compares)."""
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            t["metadata"].pop("labels")
    return t


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    return without_hash(a) == without_hash(b)


def revision(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("annotations", {}).get(REVISION, "0"))
    except (TypeError, ValueError):
        return 0


def get_condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


# -- history and rollback --------------------------------------------------------------------

# The Deployment's own annotations that a rollback keeps instead of taking the RS's.
_KEPT_FROM_DEPLOYMENT = (LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                         "deprecated.deployment.rollback.to")


class RollbackError(Exception):
    """Why a rollback cannot be done, worded as kubectl words it."""


def owned_by(d: Obj, rss: list[Obj]) -> list[Obj]:
    uid = d["metadata"].get("uid")
    return [rs for rs in rss if any(r.get("controller") and r.get("uid") == uid
                                    for r in rs["metadata"].get("ownerReferences") or [])]


def history(rss: list[Obj]) -> list[tuple[int, Obj]]:
    """(revision, ReplicaSet) for every revision, oldest first."""
    return sorted(((revision(rs), rs) for rs in rss if revision(rs) > 0), key=lambda p: p[0])


def change_cause(rs: Obj) -> str:
    return ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE, "")


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
    return [{"op": "replace", "path": "/spec/template", "value": without_hash(rs["spec"]["template"])},
            {"op": "add", "path": "/metadata/annotations", "value": annotations}]
