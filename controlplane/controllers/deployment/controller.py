"""Deployment controller: informers, the work queue, ownership of ReplicaSets, dispatch.

Handlers enqueue Deployment keys (a ReplicaSet's or pod's change enqueues its owning
Deployment); `sync(key)` re-reads the Deployment and the ReplicaSets it controls from the
caches, adopts matching orphan ReplicaSets, and hands them to the strategy: paused
(sync.py), Recreate (recreate.py) or RollingUpdate (rolling.py).

Objects this controller wrote are remembered until the informer shows them (or a newer
version), so a sync that runs before its own writes come back through the watch acts on
what was written, not on stale cache entries.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Hashable

from ...client import ApiClient, Conflict, NotFound
from ...client.shared import SharedInformer
from ...client.kinds import PODS, REPLICASETS, resource
from ...client.urls import object_key
from ...events import EventRecorder
from ..ownership import STATUS_BATCH, controller_ref, owner_reference, selector_of
from ..workqueue import WorkQueue
from . import util
from .recreate import rollout_recreate
from .rolling import rollout_rolling
from .sync import DeploymentSync, RequeueError
from ..lifecycle import stop_controller
from ...machinery.types import Obj

log = logging.getLogger(__name__)

DEPLOYMENTS = resource("apps", "v1", "deployments")


def _rv(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class DeploymentController:
    """Run with `await start()`; `await stop()` ends every task it started."""

    def __init__(self, client: ApiClient, *, workers: int = 4, resync_period: float = 30.0) -> None:
        self.client = client
        self.workers = workers
        self.deployments = SharedInformer(client, DEPLOYMENTS, resync_period=resync_period)
        self.replicasets = SharedInformer(client, REPLICASETS)
        self.pods = SharedInformer(client, PODS)  # Recreate waits for old pods to be gone
        self.queue = WorkQueue("deployment")
        self.recorder = EventRecorder(client, "deployment-controller")
        self._written: dict[str, Obj] = {}  # "kind/ns/name" -> what we last stored
        self._events: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.deployments.add_handlers(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                      on_delete=self._enqueue)
        self.replicasets.add_handlers(on_add=self._rs_changed, on_update=self._rs_updated,
                                      on_delete=self._rs_deleted)
        self.pods.add_handlers(on_update=self._pod_changed, on_delete=self._pod_changed)
        for informer in (self.deployments, self.replicasets, self.pods):
            informer.start()
        self._task = asyncio.create_task(self._run(), name="deployment-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.deployments, self.replicasets, self.pods),
                              list(self._events))
        self._task = None

    async def _run(self) -> None:
        for informer in (self.deployments, self.replicasets, self.pods):
            await informer.wait_synced()
        await self.queue.run(self.sync, self.workers)

    # -- handlers ------------------------------------------------------------------------------

    def _enqueue(self, d: Obj) -> None:
        self.queue.add(object_key(d))

    def requeue_after(self, d: Obj, delay: float) -> None:
        self.queue.add_after(object_key(d), delay)

    def _owner_of_rs(self, rs: Obj) -> str | None:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        return f"{rs['metadata'].get('namespace', '')}/{ref['name']}"

    def _rs_changed(self, rs: Obj) -> None:
        key = self._owner_of_rs(rs)
        if key is not None:
            self.queue.add(key)
        elif controller_ref(rs) is None:
            labels = rs["metadata"].get("labels") or {}
            for d in self.deployments.list():
                if d["metadata"].get("namespace") == rs["metadata"].get("namespace") and \
                        selector_of(d).matches(labels):
                    self._enqueue(d)

    def _rs_deleted(self, rs: Obj) -> None:
        self._written.pop(f"ReplicaSet/{object_key(rs)}", None)
        self._rs_changed(rs)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        old_key, new_key = self._owner_of_rs(old), self._owner_of_rs(new)
        if old_key and old_key != new_key:
            self.queue.add(old_key)
        if new_key and new_key == old_key and old.get("spec") == new.get("spec"):
            # Status only (pods coming and going): one sync per STATUS_BATCH for the lot.
            self.queue.add_after(new_key, STATUS_BATCH)
        else:
            self._rs_changed(new)

    def _pod_changed(self, *objs: Obj) -> None:
        pod = objs[-1]
        if pod["metadata"].get("deletionTimestamp") is None and len(objs) == 2:
            return  # only the end of a pod matters here (Recreate waits for it)
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{pod['metadata'].get('namespace', '')}/{ref['name']}")
        key = self._owner_of_rs(rs) if rs else None
        if key is not None:
            d = self.deployments.get(key)
            if d and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
                self.queue.add(key)

    # -- reads with our own writes on top ------------------------------------------------------

    def _fresh(self, kind: str, obj: Obj | None, key: str) -> Obj | None:
        mine = self._written.get(f"{kind}/{key}")
        if mine is None:
            return obj
        if obj is not None and _rv(obj) >= _rv(mine):
            self._written.pop(f"{kind}/{key}", None)  # the cache caught up
            return obj
        return mine

    def _remember(self, kind: str, obj: Obj) -> Obj:
        obj.setdefault("apiVersion", "apps/v1")
        obj.setdefault("kind", kind)
        self._written[f"{kind}/{object_key(obj)}"] = obj
        return obj

    # -- writes the strategies use ------------------------------------------------------------

    def owner_reference(self, d: Obj) -> Obj:
        return owner_reference(d, "Deployment", "apps/v1")

    async def create_rs(self, rs: Obj) -> Obj:
        return self._remember("ReplicaSet", await self.client.create(REPLICASETS, rs))

    async def get_rs(self, namespace: str, name: str) -> Obj:
        return self._remember("ReplicaSet", await self.client.get(REPLICASETS, name, namespace))

    async def write_rs(self, rs: Obj) -> Obj:
        return self._remember("ReplicaSet", await self.client.update(REPLICASETS, rs))

    async def delete_rs(self, rs: Obj) -> None:
        md = rs["metadata"]
        self._written.pop(f"ReplicaSet/{object_key(rs)}", None)
        await self.client.delete(REPLICASETS, md["name"], md.get("namespace", ""), uid=md["uid"],
                                 propagation_policy="Background")

    async def write_deployment(self, d: Obj) -> Obj:
        return self._remember("Deployment", await self.client.update(DEPLOYMENTS, d))

    async def write_status(self, d: Obj, status: Obj) -> None:
        if status == (d.get("status") or {}):
            return
        stored = await self.client.update_status(DEPLOYMENTS, {**d, "status": status})
        self._remember("Deployment", stored)

    def event(self, obj: Obj, reason: str, message: str) -> None:
        task = self.recorder.normal(obj, reason, message)
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    # -- sync ----------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        d = self._fresh("Deployment", self.deployments.get(key), key)
        if d is None or self.deployments.get(key) is None:
            self._written.pop(f"Deployment/{key}", None)
            return  # gone: the garbage collector takes its ReplicaSets
        d = copy.deepcopy(d)
        selector = selector_of(d)
        if selector.empty:
            self.event(d, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
            return
        rss = await self._claim_replicasets(d)
        s = DeploymentSync(self, d, rss)
        try:
            if d["metadata"].get("deletionTimestamp") or d["spec"].get("paused") or util.is_scaling_event(
                    d, [rs for rs in rss if util.spec_replicas(rs) > 0]):
                await s.sync_sizes(d)
            elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
                await rollout_recreate(s, d, self._pods_by_rs(rss))
            else:
                await rollout_rolling(s, d)
        except Conflict:
            self.queue.add_after(key, 0.05)  # a cache was behind; the next sync re-reads
        except NotFound:
            self.queue.add_after(key, 0.05)
        except RequeueError as exc:
            log.info("deployment %s: %s", key, exc)
            self.queue.add_after(key, 0.05)

    async def _claim_replicasets(self, d: Obj) -> list[Obj]:
        """The RSs this Deployment controls: ours that still match, plus adopted orphans;
        ours that no longer match the selector are released (kube's ControllerRefManager)."""
        ns, uid = d["metadata"].get("namespace", ""), d["metadata"]["uid"]
        selector = selector_of(d)
        owned: list[Obj] = []
        for cached in self.replicasets.list():
            if cached["metadata"].get("namespace") != ns:
                continue
            rs = self._fresh("ReplicaSet", cached, object_key(cached)) or cached
            ref = controller_ref(rs)
            matches = selector.matches(rs["metadata"].get("labels") or {})
            if ref is not None and ref.get("uid") == uid:
                if matches:
                    owned.append(rs)
                else:
                    await self._set_owner(rs, [r for r in rs["metadata"].get("ownerReferences") or []
                                               if r.get("uid") != uid])
            elif ref is None and matches and not rs["metadata"].get("deletionTimestamp"):
                refs = list(rs["metadata"].get("ownerReferences") or []) + [self.owner_reference(d)]
                adopted = await self._set_owner(rs, refs)
                if adopted is not None:
                    owned.append(adopted)
        # RSs we created that the cache has not shown yet.
        seen = {rs["metadata"]["uid"] for rs in owned}
        for k, obj in list(self._written.items()):
            ref = controller_ref(obj) or {}
            if k.startswith("ReplicaSet/") and ref.get("uid") == uid and obj["metadata"]["uid"] not in seen \
                    and self.replicasets.get(object_key(obj)) is None:
                owned.append(obj)
        return owned

    async def _set_owner(self, rs: Obj, refs: list[Obj]) -> Obj | None:
        """Adopt or release: a patch conditional on the RS's resourceVersion."""
        md = rs["metadata"]
        try:
            patched = await self.client.patch(REPLICASETS, md["name"], {"metadata": {
                "ownerReferences": refs or None, "resourceVersion": md["resourceVersion"]}}, md.get("namespace", ""))
        except (Conflict, NotFound):
            return None  # changed meanwhile: the next sync decides again
        return self._remember("ReplicaSet", patched)

    def _pods_by_rs(self, rss: list[Obj]) -> dict[str, list[Obj]]:
        uids = {rs["metadata"]["uid"] for rs in rss}
        out: dict[str, list[Obj]] = {}
        for pod in self.pods.list():
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") in uids:
                out.setdefault(ref["uid"], []).append(pod)
        return out


