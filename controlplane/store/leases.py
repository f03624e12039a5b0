"""Shared etcd leases for keys that expire on their own (Events), as kube-apiserver does.

One lease per reuse window instead of one per key: etcd keeps every lease in memory and
checks them all, so thousands of Events must not mean thousands of leases. A key written in
a window lives between `ttl` and `ttl + reuse` seconds.
"""

from __future__ import annotations

import asyncio
import time

from .etcd import Store


class LeasePool:
    def __init__(self, store: Store, ttl: int, reuse: float = 60.0) -> None:
        self._store = store
        self.ttl = ttl
        self._reuse = min(reuse, float(ttl))
        self._lease = 0
        self._granted = 0.0
        self._lock = asyncio.Lock()

    async def lease(self) -> int:
        """A lease that keeps a key for at least `ttl` seconds from now."""
        async with self._lock:
            now = time.monotonic()
            if not self._lease or now - self._granted >= self._reuse:
                self._lease = await self._store.grant_lease(int(self.ttl + self._reuse + 0.999))
                self._granted = now
            return self._lease
