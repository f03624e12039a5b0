"""The RollingUpdate strategy: how far the new ReplicaSet may grow and the old ones shrink.

The arithmetic is pure (`new_rs_target`, `old_rs_targets`) and works on ReplicaSet
snapshots; `rollout_rolling` applies it through a `DeploymentSync`. Pods an RS still has
while shrinking count against the surge (`util.pod_count`), and old RSs are shrunk only
when every RS's status reflects its spec, so stale counts can neither add a pod beyond
replicas+maxSurge nor remove one below replicas-maxUnavailable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import progress, util
from ...machinery.types import Obj

if TYPE_CHECKING:
    from .sync import DeploymentSync



def new_rs_target(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """NewRSNewReplicas for RollingUpdate: grow the new RS up to replicas, within the surge."""
    replicas = int(d["spec"].get("replicas", 1))
    current = util.spec_replicas(new_rs)
    if current >= replicas:
        return replicas  # also shrinks a new RS left bigger than a lowered replicas
    surge, _ = util.surge_and_unavailable(d)
    total = sum(util.pod_count(rs) for rs in all_rss)
    room = replicas + surge - total
    if room <= 0:
        return current
    return current + min(room, replicas - current)


def old_rs_targets(d: Obj, old_rss: list[Obj], new_rs: Obj | None) -> dict[str, int]:
    """New spec.replicas for old RSs (by name); only the ones that change.

    First old pods that are not available go (they hold no availability), then available
    ones while more than replicas-maxUnavailable pods stay available, oldest RS first.
    """
    old = [rs for rs in old_rss if util.spec_replicas(rs) > 0]
    if not old:
        return {}
    replicas = int(d["spec"].get("replicas", 1))
    _, unavailable = util.surge_and_unavailable(d)
    min_available = replicas - unavailable
    all_rss = old + ([new_rs] if new_rs else [])
    all_pods = sum(util.spec_replicas(rs) for rs in all_rss)
    new_unavailable = (util.spec_replicas(new_rs) - util.status_of(new_rs, "availableReplicas")) if new_rs else 0
    budget = all_pods - min_available - max(new_unavailable, 0)
    if budget <= 0:
        return {}
    targets: dict[str, int] = {}
    by_age = sorted(old, key=util.creation_key)
    # 1. Unhealthy old replicas cost no availability: remove them first.
    for rs in by_age:
        if budget <= 0:
            break
        unhealthy = util.spec_replicas(rs) - util.status_of(rs, "availableReplicas")
        cut = min(budget, max(unhealthy, 0))
        if cut > 0:
            targets[rs["metadata"]["name"]] = util.spec_replicas(rs) - cut
            budget -= cut
    # 2. Then available ones, as long as enough stay available.
    available = sum(util.status_of(rs, "availableReplicas") for rs in all_rss)
    removed_available = 0
    spare = available - min_available
    for rs in by_age:
        if spare - removed_available <= 0:
            break
        name = rs["metadata"]["name"]
        left = targets.get(name, util.spec_replicas(rs))
        cut = min(left, spare - removed_available)
        if cut > 0:
            targets[name] = left - cut
            removed_available += cut
    original = {rs["metadata"]["name"]: util.spec_replicas(rs) for rs in old}
    return {n: v for n, v in targets.items() if v != original[n]}


async def rollout_rolling(s: "DeploymentSync", d: Obj) -> None:
    new_rs, old_rss = await s.rs_and_sync_revision(d, create=True)
    assert new_rs is not None
    all_rss = old_rss + [new_rs]
    target = new_rs_target(d, all_rss, new_rs)
    if target != util.spec_replicas(new_rs):
        new_rs = await s.scale(d, new_rs, target)
        await s.sync_rollout_status(d, new_rs, old_rss + [new_rs])
        return  # scaled up: look again once the new pods show in the caches
    # Stale status could claim pods are available that are already going: wait until
    # every RS has caught up with its spec before taking more away.
    if all(util.rs_synced(rs) for rs in all_rss):
        targets = old_rs_targets(d, old_rss, new_rs)
        if targets:
            scaled = []
            for rs in old_rss:
                name = rs["metadata"]["name"]
                scaled.append(await s.scale(d, rs, targets[name]) if name in targets else rs)
            old_rss = scaled
            await s.sync_rollout_status(d, new_rs, old_rss + [new_rs])
            return
    if progress.complete(d, d.get("status") or {}):
        await s.cleanup(d, old_rss)
    await s.sync_rollout_status(d, new_rs, old_rss + [new_rs])
