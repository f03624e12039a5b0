"""Garbage collector: objects whose owners are gone are deleted; owners deleted in the
foreground wait for their dependents; owners deleted with `orphan` let them go free.

Owners are found by `metadata.ownerReferences[].uid` across every served kind: one
informer per kind feeds an index uid -> object and owner uid -> dependent uids. The queue
carries uids; `sync(uid)` decides from the cached state (confirming an owner's absence with a
live GET first, so a cache that lags never deletes a live object's dependents):

* the object is being deleted with the `orphan` finalizer: strip its ownerReferences from
  every dependent, then remove the finalizer;
* with `foregroundDeletion`: delete its dependents, and once none that set
  `blockOwnerDeletion` remain, remove the finalizer;
* it has owners: when none is left standing it is deleted (Foreground if an owner waits
  for it and it has dependents of its own, else as its own finalizers say); when some
  stand, references to the missing or foreground-deleting ones are removed.

Nothing is remembered outside the caches, so a restart at any point recomputes the same work.

The kinds come from discovery, as kube's collector takes them: at start, every
`discovery_period` seconds, and soon after any CustomResourceDefinition changes, so the kinds
CRDs add are collected (and their informers stopped when they go) without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Hashable

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.discovery import served
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..resources.registry import ResourceInfo, by_kind, resources
from .workqueue import WorkQueue
from .lifecycle import stop_controller
from ..machinery.types import Obj

log = logging.getLogger(__name__)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
CONFLICT_RETRY = 0.05  # seconds before a sync that lost a write race looks again
DISCOVERY_PERIOD = 30.0  # seconds between looks at what kinds the API serves (kube: 30 s)
CRD_SETTLE = 0.5  # seconds after a CRD change before discovery is asked (it becomes Established)
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")


def _owners(obj: Obj) -> list[Obj]:
    return list((obj.get("metadata") or {}).get("ownerReferences") or [])


def _finalizers(obj: Obj) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or [])


def _deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def waiting_for_dependents(obj: Obj) -> bool:
    """Being deleted in the foreground: its dependents go first."""
    return _deleting(obj) and FOREGROUND in _finalizers(obj)


def _uid(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("uid", "")


@dataclass
class _Graph:
    """Who is where, and who depends on whom; rebuilt from the informers' events."""

    where: dict[str, tuple[ResourceInfo, str]] = field(default_factory=dict)  # uid -> (kind, cache key)
    dependents: dict[str, set[str]] = field(default_factory=dict)  # owner uid -> dependent uids

    def put(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> None:
        uid = _uid(obj)
        self.where[uid] = (info, object_key(obj))
        if old is not None:
            self._unlink(old)
        for ref in _owners(obj):
            self.dependents.setdefault(ref.get("uid", ""), set()).add(uid)

    def remove(self, obj: Obj) -> None:
        self.where.pop(_uid(obj), None)
        self._unlink(obj)

    def _unlink(self, obj: Obj) -> None:
        uid = _uid(obj)
        for ref in _owners(obj):
            deps = self.dependents.get(ref.get("uid", ""))
            if deps is not None:
                deps.discard(uid)
                if not deps:
                    del self.dependents[ref.get("uid", "")]


class GarbageCollector:
    def __init__(self, client: ApiClient, *, kinds: tuple[ResourceInfo, ...] | None = None, workers: int = 4,
                 sync_timeout: float = 30.0, owns_client: bool = False,
                 discovery_period: float = DISCOVERY_PERIOD) -> None:
        self.client = client
        self.sync_timeout = sync_timeout
        self._owns_client = owns_client
        self.workers = workers
        self.discovery_period = discovery_period
        self._fixed = kinds is not None  # given kinds: no discovery
        self.informers: dict[ResourceInfo, SharedInformer] = {}
        self._initial = [info for info in kinds or resources() if "watch" in info.verbs]
        self.types: dict[tuple[str, str], ResourceInfo] = {}  # (apiVersion, kind) of every served version
        self.graph = _Graph()
        self.queue = WorkQueue("garbage-collector", conflict_retry=CONFLICT_RETRY)
        self._task: asyncio.Task[None] | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._rediscover = asyncio.Event()
        self._rechecks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if not self._fixed:
            with contextlib.suppress(ApiError):  # unreachable: the built-in kinds, then discovery
                self._initial = await self._discover_kinds()
        for info in self._initial:
            self._watch(info)
        self._task = asyncio.create_task(self._run(), name="garbage-collector")
        if not self._fixed:
            self._discovery = asyncio.create_task(self._follow_discovery(), name="garbage-collector-discovery")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, list(self.informers.values()),
                              [t for t in (self._discovery, *self._rechecks) if t is not None])
        if self._owns_client:
            await self.client.close()

    # -- which kinds ------------------------------------------------------------------------

    def _watch(self, info: ResourceInfo) -> None:
        inf = SharedInformer(self.client, info)
        inf.add_handlers(on_add=lambda obj, i=info: self._changed(i, None, obj),
                         on_update=lambda old, new, i=info: self._changed(i, old, new),
                         on_delete=self._deleted)
        if (info.group, info.resource) == CRDS:  # a CRD change: its kinds come or go soon
            inf.add_handlers(on_add=lambda obj: self._soon(), on_update=lambda old, new: self._soon(),
                             on_delete=lambda obj: self._soon())
        self.informers[info] = inf
        inf.start()

    async def _recheck_dependents(self, info: ResourceInfo) -> None:
        """A kind just followed: its objects' deletions before now were never seen, so every
        object owned by one of its kind is looked at again (once its objects are listed)."""
        informer = self.informers.get(info)
        if informer is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await informer.wait_synced(self.sync_timeout)
        for inf in list(self.informers.values()):
            for key in inf.keys():
                obj = inf.get(key)
                if obj is not None and any(r.get("kind") == info.kind and
                                           str(r.get("apiVersion", "")).rpartition("/")[0] == info.group
                                           for r in _owners(obj)):
                    self.queue.add(_uid(obj))

    def _soon(self) -> None:
        self._rediscover.set()

    async def _discover_kinds(self) -> list[ResourceInfo]:
        found = await served(self.client)
        self.types = found.by_type
        return found.preferred("list", "watch", "delete")

    async def _follow_discovery(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._rediscover.wait(), self.discovery_period)
                await asyncio.sleep(CRD_SETTLE)
            self._rediscover.clear()
            try:
                wanted = set(await self._discover_kinds())
            except ApiError as exc:
                log.warning("garbage collector: discovery failed (%s); keeping the kinds it has", exc)
                continue
            for info in wanted - set(self.informers):
                log.info("garbage collector: now following %s", info.group_resource)
                self._watch(info)
                task = asyncio.create_task(self._recheck_dependents(info))
                self._rechecks.add(task)
                task.add_done_callback(self._rechecks.discard)
            for info in set(self.informers) - wanted:
                log.info("garbage collector: %s is no longer served", info.group_resource)
                await self.informers.pop(info).stop()

    async def _run(self) -> None:
        # Start once every kind is listed, so the first decisions rarely need a live GET. Absence
        # is always confirmed live, so a kind that cannot be listed only delays, never misleads.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sync_timeout
        for info, inf in list(self.informers.items()):
            try:
                await inf.wait_synced(max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                log.warning("garbage collector: %s not listed yet; starting without it", info.resource)
        await self.queue.run(self.sync, self.workers)

    # -- handlers: keep the graph, say which uids to look at ----------------------------------

    def _changed(self, info: ResourceInfo, old: Obj | None, new: Obj) -> None:
        uid = _uid(new)
        self.graph.put(info, new, old)
        if _owners(new) or (_deleting(new) and {ORPHAN, FOREGROUND} & set(_finalizers(new))):
            self.queue.add(uid)
        if _deleting(new):
            # Dependents of an owner now deleted in the foreground must go (or let go of it).
            for dep in self.graph.dependents.get(uid, ()):
                self.queue.add(dep)
        if old is not None:
            # An owner that lost a dependent may be waiting for exactly that.
            gone = {r.get("uid") for r in _owners(old)} - {r.get("uid") for r in _owners(new)}
            for owner in gone:
                self.queue.add(owner)

    def _deleted(self, obj: Obj) -> None:
        self.graph.remove(obj)
        for dep in self.graph.dependents.get(_uid(obj), ()):
            self.queue.add(dep)  # its owner is gone
        for ref in _owners(obj):
            self.queue.add(ref.get("uid", ""))  # a foreground owner may have waited for it

    # -- sync ---------------------------------------------------------------------------------

    def cached(self, uid: str) -> tuple[ResourceInfo, Obj] | None:
        where = self.graph.where.get(uid)
        if where is None:
            return None
        informer = self.informers.get(where[0])
        obj = informer.get(where[1]) if informer is not None else None
        return (where[0], obj) if obj is not None and _uid(obj) == uid else None

    async def sync(self, key: Hashable) -> None:
        found = self.cached(str(key))
        if found is None:
            return  # gone: whoever depended on it was enqueued when it went
        info, obj = found
        if _deleting(obj):
            if ORPHAN in _finalizers(obj):
                await self._orphan_dependents(info, obj)
            elif FOREGROUND in _finalizers(obj):
                await self._delete_dependents(info, obj)
            return  # otherwise its own deletion is under way; nothing for us to do
        if _owners(obj):
            await self._check_owners(info, obj)

    async def _orphan_dependents(self, info: ResourceInfo, owner: Obj) -> None:
        uid = _uid(owner)
        for dep_uid in list(self.graph.dependents.get(uid, ())):
            found = self.cached(dep_uid)
            if found is not None:
                await self._drop_refs(found[0], found[1], {uid})
        await self._remove_finalizer(info, owner, ORPHAN)

    async def _delete_dependents(self, info: ResourceInfo, owner: Obj) -> None:
        uid = _uid(owner)
        blocking = 0
        for dep_uid in list(self.graph.dependents.get(uid, ())):
            found = self.cached(dep_uid)
            if found is None:
                continue
            ref = next((r for r in _owners(found[1]) if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            self.queue.add(dep_uid)  # each dependent decides for itself (it may have other owners)
        if blocking == 0:
            await self._remove_finalizer(info, owner, FOREGROUND)

    async def _check_owners(self, info: ResourceInfo, obj: Obj) -> None:
        solid: list[str] = []
        dangling: list[str] = []
        waiting: list[str] = []
        for ref in _owners(obj):
            state = await self._owner_state(obj, ref)
            {"solid": solid, "dangling": dangling, "waiting": waiting}[state].append(ref.get("uid", ""))
        if solid:
            if dangling or waiting:
                await self._drop_refs(info, obj, set(dangling) | set(waiting))
            return
        if waiting and self.graph.dependents.get(_uid(obj)):
            policy = "Foreground"  # an owner waits for us, and we have dependents of our own
        elif FOREGROUND in _finalizers(obj):
            policy = "Foreground"
        elif ORPHAN in _finalizers(obj):
            policy = "Orphan"
        else:
            policy = "Background"
        md = obj["metadata"]
        log.info("deleting %s %s/%s: its owners are %s", info.kind, md.get("namespace", ""), md["name"],
                 "being deleted" if waiting else "gone")
        with contextlib.suppress(NotFound, Conflict):  # gone, or replaced by a new uid: nothing to do
            await self.client.delete(info, md["name"], md.get("namespace", ""), uid=md.get("uid", ""),
                                     propagation_policy=policy)

    async def _owner_state(self, dependent: Obj, ref: Obj) -> str:
        """solid (there, not waiting for us), dangling (gone) or waiting (foreground-deleting)."""
        owner_info = by_kind(ref.get("apiVersion", ""), ref.get("kind", "")) if self._fixed else \
            self.types.get((ref.get("apiVersion", ""), ref.get("kind", "")))
        if owner_info is None:
            return "solid"  # a kind we cannot look up: never delete on a guess
        namespace = dependent["metadata"].get("namespace", "") if owner_info.namespaced else ""
        if owner_info.namespaced and not namespace:
            return "dangling"  # a cluster-scoped object cannot be owned by a namespaced one
        found = self.cached(ref.get("uid", ""))
        # The uid only counts where the reference points: that kind, in the dependent's namespace.
        if found is not None and found[0] == owner_info and \
                (found[1]["metadata"].get("namespace") or "") == namespace:
            return "waiting" if waiting_for_dependents(found[1]) else "solid"
        # Not in our cache: ask the API, the cache may just be behind a fresh owner.
        try:
            live = await self.client.get(owner_info, ref.get("name", ""), namespace)
        except NotFound:
            return "dangling"
        if _uid(live) != ref.get("uid"):
            return "dangling"  # same name, another object: the owner we knew is gone
        return "waiting" if waiting_for_dependents(live) else "solid"

    # -- writes (fresh GET, conditional PUT: a Conflict just retries the key) ----------------

    async def _drop_refs(self, info: ResourceInfo, obj: Obj, uids: set[str]) -> None:
        md = obj["metadata"]
        try:
            fresh = await self.client.get(info, md["name"], md.get("namespace", ""))
        except NotFound:
            return
        if _uid(fresh) != _uid(obj):
            return
        refs = [r for r in _owners(fresh) if r.get("uid") not in uids]
        if len(refs) == len(_owners(fresh)):
            return
        if refs:
            fresh["metadata"]["ownerReferences"] = refs
        else:
            fresh["metadata"].pop("ownerReferences", None)
        with contextlib.suppress(NotFound):
            await self.client.update(info, fresh)

    async def _remove_finalizer(self, info: ResourceInfo, obj: Obj, finalizer: str) -> None:
        md = obj["metadata"]
        try:
            fresh = await self.client.get(info, md["name"], md.get("namespace", ""))
        except NotFound:
            return
        if _uid(fresh) != _uid(obj) or finalizer not in _finalizers(fresh):
            return
        fresh["metadata"]["finalizers"] = [f for f in _finalizers(fresh) if f != finalizer]
        try:
            await self.client.update(info, fresh)
        except NotFound:
            pass
        except ApiError as exc:
            if exc.code != 409:
                log.warning("removing %s from %s %s: %s", finalizer, info.kind, md["name"], exc)
            raise


async def run_garbage_collector(api_url: str) -> GarbageCollector:
    """Start the collector against an API server; `await gc.stop()` to end it."""
    gc = GarbageCollector(ApiClient(api_url, user_agent="pyctl-garbage-collector"), owns_client=True)
    await gc.start()
    return gc
