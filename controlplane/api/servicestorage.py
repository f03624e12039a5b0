"""How a Service is stored: with its ClusterIP and node ports taken in the same etcd transaction.

kube-apiserver's Service REST storage allocates a ClusterIP (serviceip.py) and node ports
(nodeports.py) around the write; here every allocation is a key created if absent in the
transaction that writes the Service, and deleted in the one that deletes it or changes it so
that it no longer holds it. A value the client asked for that another Service holds is a
422 ("provided ... is already allocated"); a value picked here that another API server took
in the meantime is picked again (create) or the whole update is retried (KeyExists reaches
the generic store's retry loop).
"""

from __future__ import annotations

import copy
import json

from ..machinery.types import Obj
from ..store import KeyExists, Store
from . import errors
from .nodeports import NodePorts
from .serviceip import ServiceIPs
from .storagehooks import Encode, StorageHooks

MAX_ATTEMPTS = 16  # lost races for a free value before giving up


def _owner(obj: Obj) -> bytes:
    md = obj.get("metadata") or {}
    return json.dumps({"namespace": md.get("namespace", ""), "name": md.get("name", "")}).encode()


class ServiceStorage(StorageHooks):
    def __init__(self, store: Store, ips: ServiceIPs, ports: NodePorts) -> None:
        super().__init__(store)
        self.ips = ips
        self.ports = ports

    def held(self, obj: Obj) -> set[str]:
        """The allocation keys a Service holds."""
        return self.ips.held(obj) | self.ports.held(obj)

    def _check(self, obj: Obj, already: set[str]) -> None:
        self.ips.check(obj, already)
        self.ports.check(obj, already)

    async def _fill(self, obj: Obj) -> None:
        await self.ips.fill(obj)
        await self.ports.fill(obj)

    def _taken(self, obj: Obj, key: str) -> errors.ApiError:
        refusal = self.ips.taken(obj, key) or self.ports.taken(obj, key)
        assert refusal is not None, key  # only keys of held() are ever written
        return refusal

    async def create(self, key: str, obj: Obj, encode: Encode) -> int:
        """Raises KeyExists(key) when the Service exists, a 422 when a requested value is out
        of range or taken, a 500 when a range is full."""
        requested = self.held(obj)
        self._check(obj, set())
        asked = copy.deepcopy(obj.get("spec"))
        for _ in range(MAX_ATTEMPTS):
            await self._fill(obj)
            owner = _owner(obj)
            try:
                return await self.store.create(key, encode(obj), also={k: owner for k in sorted(self.held(obj))})
            except KeyExists as exc:
                if exc.key == key:
                    raise
                if exc.key in requested:
                    raise self._taken(obj, exc.key) from None
            obj["spec"] = copy.deepcopy(asked)  # another API server took what we picked: pick again
        raise errors.ApiError(500, "Internal error occurred: failed to allocate the Service's "
                              f"addresses and ports after {MAX_ATTEMPTS} attempts")

    async def prepare_update(self, old: Obj, new: Obj) -> None:
        """Check what the update asks for anew (range, and not held by another Service: a
        read here, made race-free by the transaction), then pick what it needs. A write that
        leaves the spec as it is (status, metadata) allocates nothing."""
        if new.get("spec") == old.get("spec"):
            return
        before = self.held(old)
        self._check(new, before)
        for k in sorted(self.held(new) - before):
            if await self.store.get(k) is not None:
                raise self._taken(new, k)
        await self._fill(new)

    async def update(self, key: str, old: Obj, new: Obj, value: bytes, expected_revision: int) -> int:
        """KeyExists when another Service took a value meanwhile: the caller retries the update."""
        before, after = self.held(old), self.held(new)
        owner = _owner(new)
        return await self.store.update(key, value, expected_revision,
                                       also={k: owner for k in sorted(after - before)},
                                       release=tuple(sorted(before - after)))

    def release_keys(self, obj: Obj) -> tuple[str, ...]:
        """The Service's allocations go with it."""
        return tuple(sorted(self.held(obj)))
