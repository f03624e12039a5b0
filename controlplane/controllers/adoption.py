"""What a controller owns, found and kept right: kube's ControllerRefManager and an owner index.

`claim` takes the objects a controller may own and returns those it controls once orphans that
match it are adopted and objects it controls that no longer match are released (both writes
conditional on the object's resourceVersion, so an object changed meanwhile is judged again on
the next sync). `OwnerIndex` keeps, from an informer's events, the keys of objects by the uid
of their controller and the orphans by namespace, so a sync reads its own objects instead of
scanning the whole cache.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ..client import ApiClient, Conflict, NotFound
from ..client.urls import object_key
from ..machinery.types import Obj
from ..resources.registry import ResourceInfo
from .ownership import controller_ref, owner_reference


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
