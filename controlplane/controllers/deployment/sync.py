"""The writes a Deployment sync makes: its new ReplicaSet, scaling, revisions, cleanup, status.

One `DeploymentSync` lives for one `sync(key)` call: the strategies (rolling.py,
recreate.py) decide, and call these methods to act. Every write returns the object as
the API server stored it and records it with the controller, so the rest of this sync
(and the next one, while the informer is behind) works on what is really there.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from typing import Protocol

from ...client import AlreadyExists, NotFound
from ...machinery.types import Obj
from . import progress, util

log = logging.getLogger(__name__)


class Writes(Protocol):
    """The API writes a sync makes, through its controller (which remembers what it wrote)."""

    def owner_reference(self, d: Obj) -> Obj: ...
    async def create_rs(self, rs: Obj) -> Obj: ...
    async def get_rs(self, namespace: str, name: str) -> Obj: ...
    async def write_rs(self, rs: Obj) -> Obj: ...
    async def delete_rs(self, rs: Obj) -> None: ...
    async def write_deployment(self, d: Obj) -> Obj: ...
    async def write_status(self, d: Obj, status: Obj) -> None: ...
    def event(self, obj: Obj, reason: str, message: str) -> None: ...
    def requeue_after(self, d: Obj, delay: float) -> None: ...


class RequeueError(Exception):
    """This sync cannot go on now (e.g. a hash collision was recorded); try again soon."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class DeploymentSync:
    def __init__(self, writes: Writes, d: Obj, rss: list[Obj]) -> None:
        self.writes = writes
        self.d = d
        self.rss = rss
        self._pending: list[Obj] = []  # conditions to merge into the status written last

    # -- the new ReplicaSet and revisions ----------------------------------------------------

    async def rs_and_sync_revision(self, d: Obj, create: bool) -> tuple[Obj | None, list[Obj]]:
        """(new RS, old RSs): the new one's revision annotations brought up to date, created
        when `create` and it does not exist yet; the Deployment's revision annotation follows."""
        new_rs = util.find_new_rs(d, self.rss)
        old_rss = [rs for rs in self.rss if rs is not new_rs]
        new_revision = util.max_revision(old_rss) + 1
        if new_rs is not None:
            new_rs = await self._sync_new_rs(d, new_rs, new_revision)
            if util.get_condition(d.get("status") or {}, "Progressing") is None and progress.has_deadline(d):
                self._pending.append(util.new_condition(
                    "Progressing", "True", util.FOUND_NEW_RS,
                    f'Found new replica set "{new_rs["metadata"]["name"]}"', _now()))
        elif create:
            new_rs = await self._create_new_rs(d, new_revision)
        if new_rs is not None:
            await self._set_deployment_revision(d, util.revision(new_rs))
        self.rss = old_rss + ([new_rs] if new_rs is not None else [])
        return new_rs, old_rss

    def _annotations(self, d: Obj, rs: Obj | None, new_revision: int) -> dict[str, str]:
        ann = dict(((rs or {}).get("metadata") or {}).get("annotations") or {})
        ann.update(util.copied_annotations(d))
        old_rev = util.revision(rs) if rs else 0
        if old_rev < new_revision:
            ann[util.REVISION] = str(new_revision)
            if old_rev > 0:  # kube keeps the revisions this template had before
                history = [h for h in ann.get(util.REVISION_HISTORY, "").split(",") if h]
                ann[util.REVISION_HISTORY] = ",".join(history + [str(old_rev)])
        if rs is None:  # sizes are recorded at creation and by scale(), never here (kube's rule):
            replicas = int(d["spec"].get("replicas", 1))  # they are what a resize is measured against
            surge, _ = util.surge_and_unavailable(d)
            ann[util.DESIRED_REPLICAS] = str(replicas)
            ann[util.MAX_REPLICAS] = str(replicas + surge)
        return ann

    async def _sync_new_rs(self, d: Obj, rs: Obj, new_revision: int) -> Obj:
        ann = self._annotations(d, rs, new_revision)
        min_ready = int(d["spec"].get("minReadySeconds") or 0)
        if ann == (rs["metadata"].get("annotations") or {}) and int(rs["spec"].get("minReadySeconds") or 0) == min_ready:
            return rs
        body = copy.deepcopy(rs)
        body["metadata"]["annotations"] = ann
        body["spec"]["minReadySeconds"] = min_ready
        return await self.writes.write_rs(body)

    async def _create_new_rs(self, d: Obj, new_revision: int) -> Obj:
        md = d["metadata"]
        collisions = int((d.get("status") or {}).get("collisionCount") or 0)
        template = copy.deepcopy(d["spec"]["template"])
        h = util.template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[util.HASH_LABEL] = h
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[util.HASH_LABEL] = h
        name = f"{md['name']}-{h}"
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": name, "namespace": md.get("namespace", ""),
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": self._annotations(d, None, new_revision),
                           "ownerReferences": [self.writes.owner_reference(d)]},
              "spec": {"replicas": 0, "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                       "selector": selector, "template": template}}
        try:
            created = await self.writes.create_rs(rs)
        except AlreadyExists:
            existing = await self.writes.get_rs(md.get("namespace", ""), name)
            if (util.equal_ignore_hash(existing["spec"].get("template"), d["spec"]["template"])
                    and any(r.get("uid") == md["uid"] for r in existing["metadata"].get("ownerReferences") or [])):
                return existing  # ours: the cache just had not shown it yet
            # Another object holds the name: escape with a different hash next time.
            status = copy.deepcopy(d.get("status") or {})
            status["collisionCount"] = collisions + 1
            await self.writes.write_status(d, status)
            raise RequeueError(f"hash collision for replica set {name}") from None
        if progress.has_deadline(d):
            self._pending.append(util.new_condition("Progressing", "True", util.NEW_RS_CREATED,
                                                    f'Created new replica set "{name}"', _now()))
        return created

    async def _set_deployment_revision(self, d: Obj, rev: int) -> None:
        ann = (d["metadata"].get("annotations") or {})
        if rev <= 0 or ann.get(util.REVISION) == str(rev):
            return
        body = copy.deepcopy(d)
        body["metadata"].setdefault("annotations", {})[util.REVISION] = str(rev)
        body.pop("status", None)
        stored = await self.writes.write_deployment(body)
        # Go on with the stored metadata (new resourceVersion) but the status we started from.
        d["metadata"] = stored["metadata"]

    # -- scaling and cleanup ---------------------------------------------------------------------

    async def scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        before = util.spec_replicas(rs)
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = replicas
        ann = body["metadata"].setdefault("annotations", {})
        surge, _ = util.surge_and_unavailable(d)
        ann[util.DESIRED_REPLICAS] = str(int(d["spec"].get("replicas", 1)))
        ann[util.MAX_REPLICAS] = str(int(d["spec"].get("replicas", 1)) + surge)
        stored = await self.writes.write_rs(body)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            self.writes.event(d, "ScalingReplicaSet",
                         f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}")
        self.rss = [stored if r["metadata"]["uid"] == stored["metadata"]["uid"] else r for r in self.rss]
        return stored

    async def cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        """Delete the oldest zero-replica old RSs beyond revisionHistoryLimit."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        idle = [rs for rs in old_rss if util.spec_replicas(rs) == 0 and util.status_of(rs, "replicas") == 0
                and util.rs_synced(rs) and not rs["metadata"].get("deletionTimestamp")]
        excess = len(idle) - int(limit)
        for rs in sorted(idle, key=lambda r: (util.revision(r), util.creation_key(r)))[:max(excess, 0)]:
            try:
                await self.writes.delete_rs(rs)
            except NotFound:
                pass

    # -- status --------------------------------------------------------------------------------

    def _with_pending(self, d: Obj) -> Obj:
        if not self._pending:
            return d
        status = copy.deepcopy(d.get("status") or {})
        for cond in self._pending:
            util.set_condition(status, cond)
        return {**d, "status": status}

    async def sync_rollout_status(self, d: Obj, new_rs: Obj | None, all_rss: list[Obj]) -> None:
        now = _now()
        base = self._with_pending(d)
        status = progress.rollout_status(base, new_rs, all_rss, now)
        progress.paused_condition(d, status, now)
        await self.writes.write_status(d, status)
        delay = progress.requeue_after(d, status, now)
        if delay is not None:
            self.writes.requeue_after(d, delay)

    async def sync_status_only(self, d: Obj, new_rs: Obj | None, all_rss: list[Obj]) -> None:
        now = _now()
        status = progress.calculate_status(self._with_pending(d), new_rs, all_rss, now)
        progress.paused_condition(d, status, now)
        await self.writes.write_status(d, status)

    async def sync_sizes(self, d: Obj) -> None:
        """Paused, or resized mid-rollout: make the sizes right, roll nothing out (kube's sync)."""
        new_rs, old_rss = await self.rs_and_sync_revision(d, create=False)
        if not d["metadata"].get("deletionTimestamp"):
            await self._resize(d, new_rs, old_rss)
        new_rs = next((r for r in self.rss if new_rs is not None and r["metadata"]["uid"] == new_rs["metadata"]["uid"]), None)
        old_rss = [r for r in self.rss if r is not new_rs]
        if progress.complete(d, d.get("status") or {}):
            await self.cleanup(d, old_rss)
        await self.sync_status_only(d, new_rs, old_rss + ([new_rs] if new_rs else []))

    async def _resize(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        replicas = int(d["spec"].get("replicas", 1))
        all_rss = old_rss + ([new_rs] if new_rs else [])
        active = [rs for rs in all_rss if util.spec_replicas(rs) > 0]
        if len(active) <= 1:
            # One RS carries everything: the active one, else the new one, else the newest.
            target = active[0] if active else new_rs or (max(all_rss, key=util.creation_key) if all_rss else None)
            if target is not None and util.spec_replicas(target) != replicas:
                await self.scale(d, target, replicas)
            return
        if new_rs is not None and util.spec_replicas(new_rs) == replicas and \
                util.status_of(new_rs, "availableReplicas") == replicas:
            for rs in old_rss:  # the new RS is saturated: the old ones can go
                if util.spec_replicas(rs) > 0:
                    await self.scale(d, rs, 0)
            return
        targets = util.proportional_targets(d, active)
        for rs in active:
            name = rs["metadata"]["name"]
            if name in targets:
                await self.scale(d, rs, targets[name])
            elif util.is_scaling_event(d, [rs]):
                await self.scale(d, rs, util.spec_replicas(rs))  # same size, annotations brought up to date
