"""Pod status write-back: accepted at once, written in batches.

As SwarmKit's dispatcher does, updates from all sessions land in one dict keyed by pod
(a newer report replaces an older unsent one), flushed eagerly (batching.py): at once when no
flush is under way, else right after it, the writes of one flush sent together in one batch
request (client/batch.py); a periodic flush every 0.1 s added ~50 ms to every pod's Ready. A pod that is gone is simply skipped.
`settle(pod)` writes that pod's status at once (and waits for a write already under way):
an agent's last report of a pod it stopped lands before the deletion it then confirms.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ..client import ApiClient, ApiError, NotFound
from ..client.batch import BatchWriter
from ..client.kinds import PODS
from .batching import FlushLoop

log = logging.getLogger(__name__)
STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class PendingStatus:
    namespace: str
    name: str
    uid: str
    status: dict[str, Any]


class StatusWriter(FlushLoop):
    task_name = "gateway-status-writer"
    eager = True

    def __init__(self, client: ApiClient, *, interval: float = 0.1, concurrency: int = 1024) -> None:
        self.client = client
        self._writes = BatchWriter(client)  # a flush's writes go as one request (or a few)
        self.interval = interval
        self._pending: dict[tuple[str, str], PendingStatus] = {}
        self._writing: dict[tuple[str, str], asyncio.Future[None]] = {}  # writes under way
        self._sem = asyncio.Semaphore(concurrency)
        self.written = 0  # for tests and metrics

    def submit(self, update: PendingStatus) -> None:
        self._pending[(update.namespace, update.name)] = update
        self.wake()

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        claimed = [(u, self._claim(u)) for u in batch.values()]
        try:
            await asyncio.gather(*(self._write(u, done) for u, done in claimed))
        finally:  # cancelled before a write began: nobody may wait for it forever
            for u, done in claimed:
                self._release(u, done)

    async def settle(self, namespace: str, name: str) -> None:
        """Write what is pending for that pod now, after any write of it under way."""
        key = (namespace, name)
        while (busy := self._writing.get(key)) is not None:
            await asyncio.shield(busy)
        update = self._pending.pop(key, None)
        if update is not None:
            await self._write(update, self._claim(update))

    def _claim(self, u: PendingStatus) -> asyncio.Future[None]:
        """Mark the pod's write as under way the moment it leaves `_pending`, before anything
        yields: a write's coroutine starts a loop turn later, and a `settle` in between would
        find the pod neither pending nor being written, and let its deletion overtake it."""
        done = self._writing[(u.namespace, u.name)] = asyncio.get_running_loop().create_future()
        return done

    async def _write(self, u: PendingStatus, done: asyncio.Future[None]) -> None:
        try:
            await self._send(u)
        finally:
            self._release(u, done)

    def _release(self, u: PendingStatus, done: asyncio.Future[None]) -> None:
        key = (u.namespace, u.name)
        if self._writing.get(key) is done:
            del self._writing[key]
        if not done.done():
            done.set_result(None)

    async def _send(self, u: PendingStatus) -> None:
        async with self._sem:
            try:
                # Strategic merge: conditions merge by type, so the scheduler's PodScheduled
                # and anything else another writer owns survive; the uid pins the pod.
                await self._writes.write("PATCH", PODS, u.namespace, u.name, "status",
                                         body={"metadata": {"uid": u.uid}, "status": u.status},
                                         content_type=STRATEGIC)
                self.written += 1
            except NotFound:
                pass
            except ApiError as exc:
                if exc.temporary and (u.namespace, u.name) not in self._pending:
                    self._pending[(u.namespace, u.name)] = u  # try again next flush
                else:
                    log.warning("writing status of pod %s/%s: %s", u.namespace, u.name, exc)
