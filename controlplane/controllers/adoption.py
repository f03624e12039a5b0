"""What a controller owns, found and kept right: kube's ControllerRefManager and an owner index.

`claim` takes the objects a controller may own and returns those it controls once orphans that
match it are adopted and objects it controls that no longer match are released (both writes
conditional on the object's resourceVersion, so an object changed meanwhile is judged again on
the next sync). `OwnerIndex` keeps, from an informer's events, the keys of objects by the uid
of their controller and the orphans by namespace, so a sync reads its own objects instead of
scanning the whole cache. `Owned` is the informer handlers that keep such an index and say
which owner to look at.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ..client import ApiClient, Conflict, NotFound
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..machinery.types import Obj
from ..resources.registry import ResourceInfo
from .expectations import Expectations
from .ownership import STATUS_BATCH, controller_ref, owner_reference
from .workqueue import WorkQueue


async def set_owners(client: ApiClient, info: ResourceInfo, obj: Obj, refs: list[Obj]) -> Obj | None:
    """Write `refs` as the object's ownerReferences, if it did not change since it was read;
    the stored object, or None when it changed or is gone."""
    md = obj["metadata"]
    patch = {"metadata": {"ownerReferences": refs or None, "resourceVersion": md["resourceVersion"]}}
    try:
        return await client.patch(info, md["name"], patch, md.get("namespace", ""))
    except (Conflict, NotFound):
        return None


async def claim(client: ApiClient, info: ResourceInfo, owner: Obj, kind: str, api_version: str,
                candidates: Iterable[Obj], matches: Callable[[Obj], bool]) -> list[Obj]:
    """The candidates `owner` controls, after adopting matching orphans and releasing its own
    that no longer match (kube's ClaimObject)."""
    uid = owner["metadata"]["uid"]
    owner_deleting = bool(owner["metadata"].get("deletionTimestamp"))
    out: list[Obj] = []
    for obj in candidates:
        md = obj["metadata"]
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches(obj):
                out.append(obj)
            elif not md.get("deletionTimestamp") and not owner_deleting:
                await set_owners(client, info, obj, [r for r in md.get("ownerReferences") or []
                                                     if r.get("uid") != uid])
            continue
        if owner_deleting or md.get("deletionTimestamp") or not matches(obj):
            continue
        refs = list(md.get("ownerReferences") or []) + [owner_reference(owner, kind, api_version)]
        adopted = await set_owners(client, info, obj, refs)
        if adopted is not None:
            out.append(adopted)
    return out


class OwnerIndex:
    """Keys of an informer's objects by controller uid, and of orphans by namespace."""

    def __init__(self) -> None:
        self._owned: dict[str, set[str]] = {}
        self._orphans: dict[str, set[str]] = {}

    def _bucket(self, obj: Obj) -> tuple[dict[str, set[str]], str]:
        ref = controller_ref(obj)
        if ref is not None:
            return self._owned, ref.get("uid", "")
        return self._orphans, (obj.get("metadata") or {}).get("namespace", "")

    def add(self, obj: Obj) -> None:
        index, key = self._bucket(obj)
        index.setdefault(key, set()).add(object_key(obj))

    def discard(self, obj: Obj) -> None:
        index, key = self._bucket(obj)
        bucket = index.get(key)
        if bucket is not None:
            bucket.discard(object_key(obj))
            if not bucket:
                del index[key]

    def update(self, old: Obj, new: Obj) -> None:
        self.discard(old)
        self.add(new)

    def candidates(self, owner: Obj) -> set[str]:
        """Keys of what `owner` controls and of the orphans in its namespace."""
        md = owner["metadata"]
        return self._owned.get(md.get("uid", ""), set()) | self._orphans.get(md.get("namespace", ""), set())

    def owned(self, uid: str) -> set[str]:
        return set(self._owned.get(uid, set()))


class Owned:
    """The objects of one informer (pods, revisions) that controllers of one `kind` own.

    Its handlers keep an OwnerIndex, tell the Expectations (when given) of creations and
    deletions, and enqueue the owner's key: at once when something appeared, went or changed
    hands, after STATUS_BATCH for a status change (so a thousand pods turning Ready cost a
    few syncs). An orphan enqueues every owner `may_adopt(owner, obj)` says could adopt it.
    """

    def __init__(self, informer: SharedInformer, owners: SharedInformer, kind: str, queue: WorkQueue,
                 may_adopt: Callable[[Obj, Obj], bool], expectations: Expectations | None = None) -> None:
        self.informer, self.owners, self.kind, self.queue = informer, owners, kind, queue
        self.may_adopt = may_adopt
        self.expectations = expectations
        self.index = OwnerIndex()

    def attach(self) -> None:
        self.informer.add_handlers(on_add=self._added, on_update=self._updated, on_delete=self._deleted)

    def candidates(self, owner: Obj) -> list[Obj]:
        """What `owner` controls and the orphans of its namespace, from the cache, by key."""
        return [o for k in sorted(self.index.candidates(owner)) if (o := self.informer.get(k)) is not None]

    def owner_key(self, obj: Obj) -> str | None:
        """The key of the owner controlling `obj` (None for another kind, or a gone owner's namesake)."""
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != self.kind:
            return None
        key = f"{obj['metadata'].get('namespace', '')}/{ref.get('name', '')}"
        owner = self.owners.get(key)
        return key if owner is None or owner["metadata"].get("uid") == ref.get("uid") else None

    def _orphan(self, obj: Obj) -> None:
        ns = obj["metadata"].get("namespace", "")
        for owner in self.owners.list():
            if owner["metadata"].get("namespace") == ns and self.may_adopt(owner, obj):
                self.queue.add(object_key(owner))

    def _added(self, obj: Obj) -> None:
        self.index.add(obj)
        key = self.owner_key(obj)
        if key is None:
            if controller_ref(obj) is None:
                self._orphan(obj)
            return
        if obj["metadata"].get("deletionTimestamp"):
            self._deleted(obj)  # seen for the first time already terminating
            return
        if self.expectations is None:
            self.queue.add(key)
            return
        self.expectations.creation_observed(key)
        if self.expectations.satisfied(key):
            self.queue.add(key)  # the last of a batch: the next batch may go at once
        else:
            self.queue.add_after(key, STATUS_BATCH)  # more are coming: one sync for the lot

    def _updated(self, old: Obj, new: Obj) -> None:
        self.index.update(old, new)
        key, old_key = self.owner_key(new), self.owner_key(old)
        deleting = bool(new["metadata"].get("deletionTimestamp"))
        if key and deleting and not old["metadata"].get("deletionTimestamp") and self.expectations is not None:
            # A graceful delete: count it now, or a replacement waits for the grace period.
            self.expectations.deletion_observed(key, new["metadata"].get("uid", ""))
        if old_key and old_key != key:
            self.queue.add(old_key)
        if key and old_key == key and not deleting:
            self.queue.add_after(key, STATUS_BATCH)
        elif key:
            self.queue.add(key)
        elif controller_ref(new) is None:
            self._orphan(new)

    def _deleted(self, obj: Obj) -> None:
        self.index.discard(obj)
        key = self.owner_key(obj)
        if key:
            if self.expectations is not None:
                self.expectations.deletion_observed(key, obj["metadata"].get("uid", ""))
            self.queue.add(key)
