"""ControllerRevisions: the revision history of DaemonSets and StatefulSets, as pure functions.

The DaemonSet and StatefulSet controllers record each pod template they roll out as a
ControllerRevision; `pyctl rollout history|undo` (and kubectl's) read them back. A revision's
`data` is the strategic merge patch that restores its template:

    {"spec": {"template": {"$patch": "replace", "metadata": {...}, "spec": {...}}}}

encoded as Kubernetes 1.34 and later encode it (Go's json of the typed template with its keys
sorted; no `creationTimestamp: null` any more), so that kubectl, which compares that encoding
of the current template with the stored bytes, recognises the revision a workload runs.
Rollback is client-side, as kubectl does it: the chosen revision's data is sent as a strategic
merge patch of the DaemonSet or StatefulSet; its controller then finds that revision equal to
the template and gives it the next revision number.
"""

from __future__ import annotations

import copy
from typing import Any

from .rollout import CHANGE_CAUSE, owned_by  # noqa: F401  (re-exported for the callers)
from .types import Obj

# The label on a DaemonSet's pods and revisions (its value: the template hash) and on a
# StatefulSet's pods (its value: the revision's name).
REVISION_HASH = "controller-revision-hash"
# The label a StatefulSet's revisions carry with their hash.
HASH_LABEL = "controller.kubernetes.io/hash"
_PATCH = "$patch"
_MAX_PREFIX = 223  # a revision name's prefix is cut so that "<prefix>-<hash>" stays a valid name


def _sorted(value: Any) -> Any:
    """Keys in Go's map order (sorted), all the way down."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def revision_data(template: Obj | None) -> Obj:
    """The data of a revision of `template`: the patch that puts it back in place."""
    t = copy.deepcopy(template or {})
    t[_PATCH] = "replace"
    return {"spec": {"template": _sorted(t)}}


def template_of(revision: Obj | None) -> Obj:
    """The pod template a revision restores (its data without the patch directives, nor the
    `creationTimestamp: null` revisions made before Kubernetes 1.34 carry)."""
    data = (revision or {}).get("data")
    template = ((data.get("spec") or {}).get("template") if isinstance(data, dict) else None) or {}
    t = {k: copy.deepcopy(v) for k, v in template.items() if k != _PATCH}
    md = t.get("metadata")
    if isinstance(md, dict):
        t["metadata"] = {k: v for k, v in md.items() if not (k == "creationTimestamp" and v is None)}
        if not t["metadata"]:
            del t["metadata"]
    return t


def matches(template: Obj | None, revision: Obj) -> bool:
    """Whether `revision` restores exactly `template`."""
    return template_of(revision) == template_of({"data": revision_data(template)})


def number(revision: Obj) -> int:
    value = revision.get("revision")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def by_number(revisions: list[Obj]) -> list[Obj]:
    """Oldest first; equal numbers by creation time, then name (kube's SortControllerRevisions)."""
    def key(r: Obj) -> tuple[int, str, str]:
        md = r.get("metadata") or {}
        return number(r), md.get("creationTimestamp") or "", md.get("name") or ""
    return sorted(revisions, key=key)


def next_number(revisions: list[Obj]) -> int:
    return max((number(r) for r in revisions), default=0) + 1


def revision_name(owner: str, hash_: str) -> str:
    """`<owner>-<hash>` (the owner's name cut short enough for a valid object name)."""
    return f"{owner[:_MAX_PREFIX]}-{hash_}"


def change_cause(revision: Obj) -> str:
    return ((revision.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE, "")


# -- rollback, as kubectl's DaemonSetRollbacker and StatefulSetRollbacker --------------------------

class RollbackError(Exception):
    """Why a rollback cannot be done, worded as kubectl words it."""


def rollback_target(revisions: list[Obj], to_revision: int = 0) -> Obj:
    """The revision to go back to: `to_revision`, or the one before the latest (kubectl's findHistory)."""
    if to_revision < 0:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    if to_revision == 0:
        ordered = by_number(revisions)
        if len(ordered) <= 1:
            raise RollbackError("no last revision to roll back to")
        return ordered[-2]
    found = next((r for r in revisions if number(r) == to_revision), None)
    if found is None:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    return found
