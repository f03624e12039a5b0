"""Whether a pod's tolerations tolerate a taint (v1.Toleration.ToleratesTaint). Shared by the
taint, node-ready and node-unschedulable filters."""

from __future__ import annotations

from typing import Iterable
from ...machinery.types import Obj



def tolerates(toleration: Obj, taint: Obj) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(tolerations: Iterable[Obj], taint: Obj) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def taint_reason(taint: Obj) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


def taint_text(taint: Obj) -> str:
    """`dedicated=gpu:NoSchedule`, as kubectl taint writes one (`key:Effect` without a value)."""
    value = taint.get("value") or ""
    return f"{taint.get('key', '')}{'=' + value if value else ''}:{taint.get('effect', '')}"
