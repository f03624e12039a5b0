"""How a kind's objects go into etcd, where that is more than one key per object.

kube-apiserver wraps the generic store for such resources (`pkg/registry/*/storage`); here a
kind with storage of its own has a `StorageHooks` in ObjectStore's table: Services take their
ClusterIP and node ports in the same transaction (servicestorage.py), Events are written with
a lease of --event-ttl so etcd removes them. Every other kind is one key, written as it is.
"""

from __future__ import annotations

from typing import Callable

from ..machinery.types import Obj
from ..store import Store
from ..store.leases import LeasePool

Encode = Callable[[Obj], bytes]


class StorageHooks:
    """One key per object: the default."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, key: str, obj: Obj, encode: Encode) -> int:
        """Store `obj` at `key` if absent (KeyExists otherwise); returns the revision."""
        return await self.store.create(key, encode(obj))

    async def lease(self) -> int:
        """The etcd lease a new object is written with (0: none)."""
        return 0

    async def prepare_update(self, old: Obj, new: Obj) -> None:
        """Fill in what `new` needs before it is encoded (allocations); may raise ApiError."""

    async def update(self, key: str, old: Obj, new: Obj, value: bytes, expected_revision: int) -> int:
        """Replace `old` by `new` (encoded as `value`) if `key` is still at `expected_revision`.
        KeyExists: a companion key was taken meanwhile, and the caller retries the update."""
        return await self.store.update(key, value, expected_revision)

    def release_keys(self, obj: Obj) -> tuple[str, ...]:
        """Keys to delete in the transaction that deletes `obj`."""
        return ()


class Expiring(StorageHooks):
    """Objects etcd deletes on its own after a while (Events and --event-ttl)."""

    def __init__(self, store: Store, ttl: int) -> None:
        super().__init__(store)
        # One lease per reuse window, shared by every object written in it.
        self._leases = LeasePool(store, ttl)

    async def lease(self) -> int:
        return await self._leases.lease()

    async def create(self, key: str, obj: Obj, encode: Encode) -> int:
        return await self.store.create(key, encode(obj), lease=await self.lease())
