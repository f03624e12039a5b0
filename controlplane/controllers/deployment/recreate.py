"""The Recreate strategy: every old pod is gone before the first new one is asked for.

Old ReplicaSets go to zero first; the new one is scaled up only once no pod of an old
ReplicaSet exists any more (terminating ones included), so old and new never overlap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import util
from ...machinery.types import Obj

if TYPE_CHECKING:
    from .sync import DeploymentSync



def old_pods_remaining(old_rss: list[Obj], pods_by_rs_uid: dict[str, list[Obj]]) -> bool:
    """Whether any old RS still has a pod that has not finished (running or terminating)."""
    for rs in old_rss:
        if util.status_of(rs, "replicas") > 0:
            return True
        for pod in pods_by_rs_uid.get(rs["metadata"]["uid"], []):
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
    return False


async def rollout_recreate(s: "DeploymentSync", d: Obj, pods_by_rs_uid: dict[str, list[Obj]]) -> None:
    new_rs, old_rss = await s.rs_and_sync_revision(d, create=False)
    active_old = [rs for rs in old_rss if util.spec_replicas(rs) > 0]
    if active_old:
        scaled = {rs["metadata"]["name"]: await s.scale(d, rs, 0) for rs in active_old}
        old_rss = [scaled.get(rs["metadata"]["name"], rs) for rs in old_rss]
        await s.sync_rollout_status(d, new_rs, old_rss + ([new_rs] if new_rs else []))
        return
    if old_pods_remaining(old_rss, pods_by_rs_uid):
        await s.sync_rollout_status(d, new_rs, old_rss + ([new_rs] if new_rs else []))
        return  # the pod informer's events bring us back when they are gone
    if new_rs is None:
        new_rs, old_rss = await s.rs_and_sync_revision(d, create=True)
        assert new_rs is not None
    replicas = int(d["spec"].get("replicas", 1))
    if util.spec_replicas(new_rs) != replicas:
        new_rs = await s.scale(d, new_rs, replicas)
    if _complete(d, new_rs):
        await s.cleanup(d, old_rss)
    await s.sync_rollout_status(d, new_rs, old_rss + [new_rs])


def _complete(d: Obj, new_rs: Obj) -> bool:
    replicas = int(d["spec"].get("replicas", 1))
    return util.status_of(new_rs, "availableReplicas") == replicas == util.status_of(new_rs, "replicas")
